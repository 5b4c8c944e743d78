//! Embeds bert_score's baseline files (`models/baselines/<lang>/<model>.tsv` at the workspace root)
//! into the library, so an installed binary can rescale without the source tree next to it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir.join("../../models/baselines");
    println!("cargo:rerun-if-changed={}", root.display());

    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();

    let mut table = String::from(
        "/// (language, model, file contents) of every baseline file bert_score ships.\n\
         pub(crate) static BUILTIN_BASELINES: &[(&str, &str, &str)] = &[\n",
    );
    for path in files {
        let relative = path.strip_prefix(&root).expect("collected under root");
        let mut parts = relative.iter().map(|p| p.to_string_lossy().into_owned());
        let lang = parts.next().expect("lang directory");
        let model = parts.collect::<Vec<_>>().join("/");
        let model = model.strip_suffix(".tsv").unwrap_or(&model).to_string();
        let absolute = path.canonicalize().expect("baseline file readable");
        writeln!(
            table,
            "    ({lang:?}, {model:?}, include_str!({:?})),",
            absolute.display().to_string()
        )
        .expect("write to String");
    }
    table.push_str("];\n");

    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("baselines.rs");
    std::fs::write(out, table).expect("write generated baseline table");
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "tsv") {
            files.push(path);
        }
    }
}
