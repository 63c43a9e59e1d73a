//! Rebuilds when an embedded skill or template changes, including files added to or removed
//! from those folders (which `include_dir!` alone would not notice).

fn main() {
    println!("cargo:rerun-if-changed=skills");
    println!("cargo:rerun-if-changed=templates");
}
