//! The `reefdb` command line.
fn main() {
    eprintln!("reefdb: the node is not built yet; see README.md");
    std::process::exit(2);
}
