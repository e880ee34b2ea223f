//! The replicated command: `reef_engine::CommandBatch::decode` on bytes from disk or a peer.
//!
//! A batch that decodes must re-encode to bytes that decode to the same batch (varints and
//! duplicate named parameters have more than one spelling, so bytes are not compared with the
//! input, only the second encoding with the first).

use reef_engine::CommandBatch;

pub fn run(data: &[u8]) {
    if let Ok(batch) = CommandBatch::decode(data) {
        let bytes = batch.encode();
        let again = CommandBatch::decode(&bytes).expect("an encoded batch decodes");
        assert_eq!(again, batch);
        assert_eq!(again.encode(), bytes);
    }
}
