//! `reef-slt`: run sqllogictest files against the engine. Not built yet (engine issue).
fn main() {
    eprintln!("reef-slt: not built yet; see the engine issue");
    std::process::exit(2);
}
