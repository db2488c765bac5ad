//! Build script: rebuilds the server when a migration is added
//! (`sqlx::migrate!` embeds the migrations folder, which cargo does not
//! otherwise watch), names the git commit the server is built from (for
//! `server --version`), and with the `embed-site` feature writes the table of
//! the built site's files that [`site`](src/site.rs) serves from the binary.
//!
//! The site must be built first (`cargo leptos build --release` writes it to
//! `target/site`; `CHATROOM_SITE_DIR` names another folder): cargo-leptos may
//! build the server while it is still writing the site, so `scripts/run`
//! builds the site and then the server again with the feature. The files are
//! embedded as they are, with any `.br` and `.gz` copies found beside them
//! (cargo-leptos 0.3.11 writes none); a file without them is compressed by
//! the server on first use.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=CHATROOM_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-changed=migrations");
    watch_git();
    if std::env::var_os("CARGO_FEATURE_EMBED_SITE").is_some() {
        embed_site();
    }
}

/// Runs git in this crate's folder; `None` outside a repository or without git.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(env("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

/// Reruns this script when HEAD moves: a new commit or another branch.
fn watch_git() {
    let (Some(git_dir), Some(common)) = (
        git(&["rev-parse", "--absolute-git-dir"]),
        git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]),
    ) else {
        return;
    };
    println!("cargo:rerun-if-changed={git_dir}/HEAD");
    println!("cargo:rerun-if-changed={common}/packed-refs");
    if let Some(branch) = git(&["rev-parse", "--symbolic-full-name", "HEAD"])
        && branch.starts_with("refs/")
    {
        println!("cargo:rerun-if-changed={common}/{branch}");
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name}"))
}

/// Writes `$OUT_DIR/site.rs`: `FILES`, each site file's path (relative to
/// the site root, `/`-separated) with its bytes and its brotli and gzip
/// copies if the build made them.
fn embed_site() {
    println!("cargo:rerun-if-env-changed=CHATROOM_SITE_DIR");
    let root = std::env::var_os("CHATROOM_SITE_DIR").map_or_else(
        || PathBuf::from(env("CARGO_MANIFEST_DIR")).join("../../target/site"),
        PathBuf::from,
    );
    let root = root.canonicalize().unwrap_or_else(|error| {
        panic!(
            "embed-site: the built site {} is missing ({error}): run `cargo leptos build --release` first",
            root.display()
        )
    });
    if !root.join("pkg").is_dir() {
        panic!(
            "embed-site: {} has no pkg/ folder: run `cargo leptos build --release` first",
            root.display()
        );
    }
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    files.sort();
    let mut code = String::from(
        "/// The built site's files (see build.rs).\npub static FILES: &[EmbeddedFile] = &[\n",
    );
    for (path, file) in &files {
        let copy = |extension: &str| {
            let mut compressed = file.clone().into_os_string();
            compressed.push(extension);
            let compressed = PathBuf::from(compressed);
            match compressed.is_file() {
                true => format!(
                    "Some(include_bytes!({:?}))",
                    compressed.display().to_string()
                ),
                false => "None".to_owned(),
            }
        };
        let _ = writeln!(
            code,
            "    EmbeddedFile {{ path: {path:?}, bytes: include_bytes!({:?}), br: {}, gzip: {} }},",
            file.display().to_string(),
            copy(".br"),
            copy(".gz"),
        );
    }
    code.push_str("];\n");
    let out = PathBuf::from(env("OUT_DIR")).join("site.rs");
    std::fs::write(&out, code).unwrap_or_else(|error| panic!("writing {}: {error}", out.display()));
}

/// Every file under `dir` but the compressed copies, with its path relative
/// to `root`.
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|error| panic!("reading {}: {error}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|error| panic!("reading {}: {error}", dir.display()))
            .path();
        if path.is_dir() {
            collect(root, &path, files);
            continue;
        }
        if path.extension().is_some_and(|e| e == "br" || e == "gz") {
            continue;
        }
        let Ok(relative) = path.strip_prefix(root) else {
            continue;
        };
        let relative: Vec<_> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect();
        files.push((relative.join("/"), path));
    }
}
