//! HTTP request bodies: `reefdb::http::body::decode_json` and `decode_text` with small limits.
//!
//! The first byte picks the decoder and the limits (1..=8 statements, 1..=64 bytes each), so
//! the limit checks themselves are exercised. Accepted bodies must respect the limits.

use reefdb::http::body::{decode_json, decode_text, BodyLimits, Params};

use super::input::Input;

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let choice = input.byte();
    let limits = BodyLimits {
        max_statements: 1 + (choice as usize >> 1) % 8,
        max_statement_bytes: 1 + (input.byte() as usize) % 64,
    };
    let body = input.rest();
    let decoded = if choice & 1 == 0 {
        decode_json(body, limits)
    } else {
        decode_text(body, limits)
    };
    if let Ok(statements) = decoded {
        assert!(!statements.is_empty());
        assert!(statements.len() <= limits.max_statements);
        for s in &statements {
            assert!(s.sql.len() <= limits.max_statement_bytes);
            if choice & 1 == 1 {
                assert_eq!(s.params, Params::None);
            }
        }
    }
}
