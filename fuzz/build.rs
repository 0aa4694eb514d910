//! `shim_calls` opens an instrumented libmsg_shim.so with dlopen: its coverage callbacks
//! (`__sanitizer_cov_*`, defined by libFuzzer in the executable) must be exported.
fn main() {
    println!("cargo:rustc-link-arg-bin=shim_calls=-Wl,--export-dynamic");
}
