use sqlparser::dialect::SQLiteDialect;
use sqlparser::parser::Parser;
fn main() {
    let sql = std::env::args().nth(1).unwrap();
    match Parser::parse_sql(&SQLiteDialect {}, &sql) {
        Ok(v) => {
            let s = format!("{:#?}", v);
            let mut skip = 0;
            for line in s.lines() {
                let t = line.trim();
                if skip > 0 {
                    if t.starts_with('}') || t.starts_with(')') {
                        skip -= 1;
                    } else if t.ends_with('{') || t.ends_with('(') {
                        skip += 1;
                    }
                    continue;
                }
                if t.starts_with("span:") || t.starts_with("token:") || t.starts_with("Span") {
                    if t.ends_with('{') || t.ends_with('(') {
                        skip = 1;
                    }
                    continue;
                }
                println!("{line}");
            }
            for st in &v {
                println!("DISPLAY: {st}");
            }
        }
        Err(e) => println!("ERR {e}"),
    }
}
