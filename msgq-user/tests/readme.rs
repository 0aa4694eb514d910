//! The README's Rust examples are the crate docs' doctests, line for line: this keeps the
//! two copies from drifting (the doctests compile and run them; this checks the README
//! shows exactly what they run, hidden `# ` lines aside).

fn rust_blocks(lines: impl Iterator<Item = String>) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut cur: Option<Vec<String>> = None;
    for l in lines {
        match (&mut cur, l.trim_end()) {
            (None, "```rust") => cur = Some(Vec::new()),
            (Some(_), "```") => blocks.extend(cur.take()),
            (Some(b), _) if !(l.starts_with("# ") || l == "#") => b.push(l),
            _ => {}
        }
    }
    blocks
}

#[test]
fn readme_rust_examples_are_the_doctests() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/../README.md")).unwrap();
    let lib = std::fs::read_to_string(format!("{root}/src/lib.rs")).unwrap();
    let shown = rust_blocks(readme.lines().map(str::to_owned));
    let docs = rust_blocks(
        lib.lines()
            .filter_map(|l| l.strip_prefix("//!"))
            .map(|l| l.strip_prefix(' ').unwrap_or(l).to_owned()),
    );
    assert_eq!(shown.len(), 2, "the README has two Rust examples");
    assert_eq!(
        shown, docs,
        "README.md and msgq-user/src/lib.rs's examples differ"
    );
}
