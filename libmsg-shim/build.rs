//! Defines the version node `GLIBC_2.2.5` in the shim, for the `.symver` directives of
//! `src/dl.rs` that give its `msgget`, `msgsnd`, `msgrcv` and `msgctl` glibc's version (so
//! `dlvsym(..., "GLIBC_2.2.5")` finds them, as unversioned lookups do).
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed=shim.map");
    println!("cargo:rustc-cdylib-link-arg=-Wl,--version-script={dir}/shim.map");
}
