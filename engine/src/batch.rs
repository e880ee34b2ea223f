//! The replicated command: a `CommandBatch` is what the leader proposes and every replica
//! applies. Its binary encoding carries a version byte first; decoding treats the bytes as
//! untrusted (they come from disk and peers): every length is checked against the bytes
//! that remain before anything is allocated, and every failure is a typed [`DecodeError`]
//! naming the field and offset.
//!
//! Format version 1 (integers are LEB128 varints unless noted):
//! ```text
//! u8 version=1 | u8 flags (bit 0: transaction) | client_id | seq | i64 LE now_ms | u64 LE seed
//! | n_statements | per statement: sql_len, sql UTF-8, u8 params_kind (0 none, 1 positional,
//!   2 named), count, then values (positional) or (name_len, name, value) pairs (named)
//! value: u8 tag (0 NULL, 1 INTEGER i64 LE, 2 REAL f64 LE, 3 TEXT len+UTF-8, 4 BLOB len+bytes)
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::codec::varint;
use crate::error::DecodeError;
use crate::value::Value;

/// Statement parameters as rqlite accepts them: positional `[..]` or named `{"n": ..}`.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Params {
    #[default]
    None,
    Positional(Vec<Value>),
    Named(BTreeMap<String, Value>),
}

impl Params {
    /// From rqlite's JSON forms: an array (positional) or an object (named).
    pub fn from_json(v: &serde_json::Value) -> Result<Params, String> {
        match v {
            serde_json::Value::Null => Ok(Params::None),
            serde_json::Value::Array(items) => Ok(Params::Positional(
                items
                    .iter()
                    .map(Value::from_json)
                    .collect::<Result<_, _>>()?,
            )),
            serde_json::Value::Object(m) => {
                let mut out = BTreeMap::new();
                for (k, v) in m {
                    out.insert(k.clone(), Value::from_json(v)?);
                }
                Ok(Params::Named(out))
            }
            _ => Err("parameters must be a JSON array or object".into()),
        }
    }
}

/// One SQL statement of a batch, with its parameters. The SQL text is kept as text (after
/// `prepare`'s rewrites) so log tools can print it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Statement {
    pub sql: String,
    pub params: Params,
}

impl Statement {
    pub fn new(sql: impl Into<String>) -> Statement {
        Statement {
            sql: sql.into(),
            params: Params::None,
        }
    }

    pub fn with_params(sql: impl Into<String>, params: Vec<Value>) -> Statement {
        Statement {
            sql: sql.into(),
            params: Params::Positional(params),
        }
    }

    pub fn with_named(sql: impl Into<String>, params: BTreeMap<String, Value>) -> Statement {
        Statement {
            sql: sql.into(),
            params: Params::Named(params),
        }
    }
}

/// A batch of statements applied in order as one log entry.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandBatch {
    /// Encoding format version ([`CommandBatch::VERSION`]).
    pub version: u8,
    /// Idempotency key: with `client_id != 0`, a batch whose `(client_id, seq)` was already
    /// applied returns the recorded result instead of applying again.
    pub client_id: u64,
    pub seq: u64,
    /// All statements succeed or none do (rqlite's `?transaction`).
    pub transaction: bool,
    /// Unix time in milliseconds chosen by the leader: the value of `'now'` for this batch.
    pub now_ms: i64,
    /// Seed for `random()` / `randomblob()` left in the SQL.
    pub seed: u64,
    pub statements: Vec<Statement>,
}

impl Default for CommandBatch {
    fn default() -> Self {
        CommandBatch {
            version: Self::VERSION,
            client_id: 0,
            seq: 0,
            transaction: false,
            now_ms: 0,
            seed: 0,
            statements: Vec::new(),
        }
    }
}

const T_NULL: u8 = 0;
const T_INT: u8 = 1;
const T_REAL: u8 = 2;
const T_TEXT: u8 = 3;
const T_BLOB: u8 = 4;

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    varint::put(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.push(T_NULL),
        Value::Integer(i) => {
            out.push(T_INT);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Real(f) => {
            out.push(T_REAL);
            out.extend_from_slice(&f.to_le_bytes());
        }
        Value::Text(s) => {
            out.push(T_TEXT);
            put_bytes(out, s.as_bytes());
        }
        Value::Blob(b) => {
            out.push(T_BLOB);
            put_bytes(out, b);
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or(DecodeError::Truncated {
            field,
            offset: self.pos,
            needed: 1,
        })?;
        self.pos += 1;
        Ok(b)
    }

    fn fixed8(&mut self, field: &'static str) -> Result<[u8; 8], DecodeError> {
        if self.remaining() < 8 {
            return Err(DecodeError::Truncated {
                field,
                offset: self.pos,
                needed: 8 - self.remaining(),
            });
        }
        let mut a = [0u8; 8];
        a.copy_from_slice(&self.buf[self.pos..self.pos + 8]);
        self.pos += 8;
        Ok(a)
    }

    fn varint(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let start = self.pos;
        varint::get(self.buf, &mut self.pos).ok_or_else(|| {
            if self.buf.len() - start < 10 && self.buf[start..].iter().all(|b| b & 0x80 != 0) {
                DecodeError::Truncated {
                    field,
                    offset: start,
                    needed: 1,
                }
            } else {
                DecodeError::Invalid {
                    field,
                    offset: start,
                    reason: "malformed varint".into(),
                }
            }
        })
    }

    /// A count of items that each take at least `min_item` bytes: bounded by what remains,
    /// so garbage cannot make us allocate.
    fn count(&mut self, field: &'static str, min_item: usize) -> Result<usize, DecodeError> {
        let at = self.pos;
        let n = self.varint(field)?;
        if n > (self.remaining() / min_item.max(1)) as u64 {
            return Err(DecodeError::Invalid {
                field,
                offset: at,
                reason: format!(
                    "count {n} exceeds the {} bytes that remain",
                    self.remaining()
                ),
            });
        }
        Ok(n as usize)
    }

    fn bytes(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let at = self.pos;
        let n = self.varint(field)?;
        if n > self.remaining() as u64 {
            return Err(DecodeError::Truncated {
                field,
                offset: at,
                needed: (n - self.remaining() as u64).min(usize::MAX as u64) as usize,
            });
        }
        let n = n as usize;
        let b = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(b)
    }

    fn string(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        let at = self.pos;
        let b = self.bytes(field)?;
        std::str::from_utf8(b).map_err(|e| DecodeError::Invalid {
            field,
            offset: at,
            reason: format!("not UTF-8: {e}"),
        })
    }

    fn value(&mut self) -> Result<Value, DecodeError> {
        let at = self.pos;
        Ok(match self.u8("value tag")? {
            T_NULL => Value::Null,
            T_INT => Value::Integer(i64::from_le_bytes(self.fixed8("integer value")?)),
            T_REAL => {
                let f = f64::from_le_bytes(self.fixed8("real value")?);
                if f.is_nan() {
                    return Err(DecodeError::Invalid {
                        field: "real value",
                        offset: at + 1,
                        reason: "NaN is not a SQL value".into(),
                    });
                }
                Value::Real(f)
            }
            T_TEXT => Value::Text(Arc::from(self.string("text value")?)),
            T_BLOB => Value::Blob(Arc::from(self.bytes("blob value")?)),
            t => {
                return Err(DecodeError::Invalid {
                    field: "value tag",
                    offset: at,
                    reason: format!("unknown tag {t}"),
                })
            }
        })
    }
}

impl CommandBatch {
    /// The encoding version this build writes and reads.
    pub const VERSION: u8 = 1;

    pub fn new(statements: Vec<Statement>) -> CommandBatch {
        CommandBatch {
            statements,
            ..Default::default()
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            32 + self
                .statements
                .iter()
                .map(|s| s.sql.len() + 8)
                .sum::<usize>(),
        );
        out.push(self.version);
        out.push(self.transaction as u8);
        varint::put(&mut out, self.client_id);
        varint::put(&mut out, self.seq);
        out.extend_from_slice(&self.now_ms.to_le_bytes());
        out.extend_from_slice(&self.seed.to_le_bytes());
        varint::put(&mut out, self.statements.len() as u64);
        for s in &self.statements {
            put_bytes(&mut out, s.sql.as_bytes());
            match &s.params {
                Params::None => out.push(0),
                Params::Positional(v) => {
                    out.push(1);
                    varint::put(&mut out, v.len() as u64);
                    for x in v {
                        put_value(&mut out, x);
                    }
                }
                Params::Named(m) => {
                    out.push(2);
                    varint::put(&mut out, m.len() as u64);
                    for (k, x) in m {
                        put_bytes(&mut out, k.as_bytes());
                        put_value(&mut out, x);
                    }
                }
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<CommandBatch, DecodeError> {
        if bytes.is_empty() {
            return Err(DecodeError::Empty);
        }
        let mut r = Reader { buf: bytes, pos: 0 };
        let version = r.u8("version")?;
        if version != Self::VERSION {
            return Err(DecodeError::UnknownVersion {
                found: version,
                supported: Self::VERSION,
            });
        }
        let flags_at = r.pos;
        let flags = r.u8("flags")?;
        if flags & !1 != 0 {
            return Err(DecodeError::Invalid {
                field: "flags",
                offset: flags_at,
                reason: format!("unknown flag bits {flags:#04x}"),
            });
        }
        let client_id = r.varint("client_id")?;
        let seq = r.varint("seq")?;
        let now_ms = i64::from_le_bytes(r.fixed8("now_ms")?);
        let seed = u64::from_le_bytes(r.fixed8("seed")?);
        let n = r.count("statement count", 2)?;
        let mut statements = Vec::with_capacity(n);
        for _ in 0..n {
            let sql = r.string("sql")?.to_string();
            let kind_at = r.pos;
            let params = match r.u8("params kind")? {
                0 => Params::None,
                1 => {
                    let c = r.count("parameter count", 1)?;
                    let mut v = Vec::with_capacity(c);
                    for _ in 0..c {
                        v.push(r.value()?);
                    }
                    Params::Positional(v)
                }
                2 => {
                    let c = r.count("parameter count", 2)?;
                    let mut m = BTreeMap::new();
                    for _ in 0..c {
                        let k = r.string("parameter name")?.to_string();
                        m.insert(k, r.value()?);
                    }
                    Params::Named(m)
                }
                k => {
                    return Err(DecodeError::Invalid {
                        field: "params kind",
                        offset: kind_at,
                        reason: format!("unknown kind {k}"),
                    })
                }
            };
            statements.push(Statement { sql, params });
        }
        if r.remaining() != 0 {
            return Err(DecodeError::TrailingBytes {
                offset: r.pos,
                extra: r.remaining(),
            });
        }
        Ok(CommandBatch {
            version,
            client_id,
            seq,
            transaction: flags & 1 != 0,
            now_ms,
            seed,
            statements,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::Integer),
            any::<f64>()
                .prop_filter("no NaN", |f| !f.is_nan())
                .prop_map(Value::Real),
            ".{0,12}".prop_map(|s| Value::Text(Arc::from(s))),
            proptest::collection::vec(any::<u8>(), 0..12).prop_map(|b| Value::Blob(Arc::from(b))),
        ]
    }

    fn arb_params() -> impl Strategy<Value = Params> {
        prop_oneof![
            Just(Params::None),
            proptest::collection::vec(arb_value(), 0..5).prop_map(Params::Positional),
            proptest::collection::btree_map("[a-z]{1,6}", arb_value(), 0..4)
                .prop_map(Params::Named),
        ]
    }

    fn arb_batch() -> impl Strategy<Value = CommandBatch> {
        (
            any::<u64>(),
            any::<u64>(),
            any::<bool>(),
            any::<i64>(),
            any::<u64>(),
            proptest::collection::vec(
                (".{0,40}", arb_params()).prop_map(|(sql, params)| Statement { sql, params }),
                0..6,
            ),
        )
            .prop_map(|(client_id, seq, transaction, now_ms, seed, statements)| {
                CommandBatch {
                    version: CommandBatch::VERSION,
                    client_id,
                    seq,
                    transaction,
                    now_ms,
                    seed,
                    statements,
                }
            })
    }

    proptest! {
        #[test]
        fn round_trip(b in arb_batch()) {
            let bytes = b.encode();
            prop_assert_eq!(CommandBatch::decode(&bytes).unwrap(), b);
        }

        /// Every strict prefix of a valid encoding is an error, never a panic or a batch.
        #[test]
        fn truncation_is_an_error(b in arb_batch()) {
            let bytes = b.encode();
            for cut in 0..bytes.len() {
                prop_assert!(CommandBatch::decode(&bytes[..cut]).is_err(), "prefix of {} bytes decoded", cut);
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = CommandBatch::decode(&bytes);
        }

        /// Flipping any byte either fails to decode or decodes to some batch; never panics.
        #[test]
        fn corruption_never_panics(b in arb_batch(), at in any::<prop::sample::Index>(), x in 1u8..=255) {
            let mut bytes = b.encode();
            let i = at.index(bytes.len());
            bytes[i] ^= x;
            let _ = CommandBatch::decode(&bytes);
        }
    }

    #[test]
    fn typed_errors() {
        assert_eq!(CommandBatch::decode(&[]), Err(DecodeError::Empty));
        assert_eq!(
            CommandBatch::decode(&[9, 0]),
            Err(DecodeError::UnknownVersion {
                found: 9,
                supported: 1
            })
        );
        let mut b = CommandBatch::new(vec![Statement::new("SELECT 1")]).encode();
        b.push(0);
        assert!(matches!(
            CommandBatch::decode(&b),
            Err(DecodeError::TrailingBytes { .. })
        ));
        // A huge claimed statement count is refused before allocating.
        let mut h = vec![1, 0, 0, 0];
        h.extend_from_slice(&[0; 16]);
        h.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(matches!(
            CommandBatch::decode(&h),
            Err(DecodeError::Invalid {
                field: "statement count",
                ..
            })
        ));
        let e = CommandBatch::decode(&[1, 0, 5]).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
    }
}
