//! Aligned table output for query results, in the style of `sqlite3 -box`/psql: a header,
//! a rule, one row per line, numbers right-aligned, NULL spelled out, and control
//! characters escaped so a value can never break the layout.

use serde_json::Value;

/// Text of one cell.
pub fn cell(v: &Value) -> String {
    let raw = match v {
        Value::Null => "NULL".to_string(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    };
    raw.chars()
        .flat_map(|c| match c {
            '\n' => vec!['\\', 'n'],
            '\r' => vec!['\\', 'r'],
            '\t' => vec!['\\', 't'],
            c if c.is_control() => format!("\\u{{{:x}}}", c as u32).chars().collect(),
            c => vec![c],
        })
        .collect()
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// Renders columns and rows; `values` rows may be ragged (missing cells are blank).
pub fn render(columns: &[String], values: &[Vec<Value>]) -> String {
    let ncols = columns
        .len()
        .max(values.iter().map(Vec::len).max().unwrap_or(0));
    let header: Vec<String> = (0..ncols)
        .map(|i| columns.get(i).cloned().unwrap_or_default())
        .collect();
    let rows: Vec<Vec<(String, bool)>> = values
        .iter()
        .map(|r| {
            (0..ncols)
                .map(|i| match r.get(i) {
                    Some(v) => (cell(v), v.is_number()),
                    None => (String::new(), false),
                })
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for r in &rows {
        for (i, (c, _)) in r.iter().enumerate() {
            widths[i] = widths[i].max(width(c));
        }
    }
    let rule = {
        let mut s = String::from("+");
        for w in &widths {
            s.push_str(&"-".repeat(w + 2));
            s.push('+');
        }
        s
    };
    let line = |cells: &[(String, bool)]| {
        let mut s = String::from("|");
        for (i, (c, right)) in cells.iter().enumerate() {
            let pad = widths[i] - width(c);
            if *right {
                s.push_str(&format!(" {}{} |", " ".repeat(pad), c));
            } else {
                s.push_str(&format!(" {}{} |", c, " ".repeat(pad)));
            }
        }
        s
    };
    let mut out = String::new();
    out.push_str(&rule);
    out.push('\n');
    let head: Vec<(String, bool)> = header.into_iter().map(|h| (h, false)).collect();
    out.push_str(&line(&head));
    out.push('\n');
    out.push_str(&rule);
    out.push('\n');
    for r in &rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    if !rows.is_empty() {
        out.push_str(&rule);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn aligns_numbers_right_text_left_and_escapes() {
        let cols = vec!["id".to_string(), "name".to_string()];
        let rows = vec![
            vec![json!(1), json!("fiona")],
            vec![json!(100), json!(null)],
            vec![json!(2.5), json!("two\nlines")],
            vec![json!(7)],
        ];
        let want = "\
+-----+------------+
| id  | name       |
+-----+------------+
|   1 | fiona      |
| 100 | NULL       |
| 2.5 | two\\nlines |
|   7 |            |
+-----+------------+
";
        assert_eq!(render(&cols, &rows), want);
    }

    #[test]
    fn empty_results_show_the_header_and_wide_chars_count_once() {
        assert_eq!(render(&["a".into()], &[]), "+---+\n| a |\n+---+\n");
        let out = render(&["ü".into()], &[vec![json!("日本")]]);
        assert!(out.contains("| 日本 |"), "{out}");
        assert_eq!(cell(&json!("a\u{1}b")), "a\\u{1}b");
    }
}
