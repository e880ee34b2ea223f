//! `reef-logtool`: inspect a stopped node's Raft log. Not built yet (raftlog issue).
fn main() {
    eprintln!("reef-logtool: not built yet; see the raftlog issue");
    std::process::exit(2);
}
