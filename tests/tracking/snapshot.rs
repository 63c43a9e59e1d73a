//! Snapshots of a real tree: what counts as added, modified and deleted, and what is never
//! tracked.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use autodev::config::{self, LoadOptions, Settings};
use autodev::snapshot::{Changes, Rules, Snapshot, diff};

struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new(toml: &str) -> Tree {
        let tree = Tree {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        tree.write("autodev.toml", toml);
        tree
    }

    fn path(&self, rel: &str) -> std::path::PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, text).expect("write");
    }

    fn settings(&self) -> Settings {
        config::load(
            &LoadOptions {
                config_path: None,
                cwd: self.dir.path().to_path_buf(),
                overrides: Vec::new(),
            },
            Vec::new(),
        )
        .expect("settings")
    }

    fn rules(&self) -> Rules {
        let settings = self.settings();
        Rules::new(&settings.config, &settings.paths).expect("rules")
    }
}

fn changes(tree: &Tree, change: impl FnOnce(&Tree)) -> Changes {
    let rules = tree.rules();
    let before = Snapshot::take(&rules, None);
    change(tree);
    let after = Snapshot::take(&rules, Some(&before));
    diff(&before, &after)
}

#[test]
fn added_modified_and_deleted_files_are_reported() {
    let tree = Tree::new("");
    tree.write("src/keep.rs", "fn keep() {}\n");
    tree.write("src/edit.rs", "fn edit() {}\n");
    tree.write("src/gone.rs", "fn gone() {}\n");
    let c = changes(&tree, |t| {
        t.write("src/new.rs", "fn new() {}\n");
        t.write("src/edit.rs", "fn edit() { changed() }\n");
        fs::remove_file(t.path("src/gone.rs")).expect("remove");
    });
    assert_eq!(c.added, ["src/new.rs"]);
    assert_eq!(c.modified, ["src/edit.rs"]);
    assert_eq!(c.deleted, ["src/gone.rs"]);
    assert_eq!(c.all(), ["src/edit.rs", "src/gone.rs", "src/new.rs"]);
}

fn set_mtime(path: &Path, when: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .expect("open")
        .set_modified(when)
        .expect("set mtime");
}

#[test]
fn a_same_size_edit_with_the_old_mtime_is_still_a_change() {
    let tree = Tree::new("");
    tree.write("data.txt", "aaaa\n");
    // An old file: its stat is trusted, so only the ctime can reveal the edit.
    let old = SystemTime::now() - Duration::from_secs(3600);
    set_mtime(&tree.path("data.txt"), old);
    let c = changes(&tree, |t| {
        t.write("data.txt", "bbbb\n");
        set_mtime(&t.path("data.txt"), old);
    });
    assert_eq!(c.modified, ["data.txt"]);
}

#[test]
fn a_recent_file_rewritten_within_the_same_timestamp_is_caught_by_content() {
    let tree = Tree::new("");
    tree.write("fresh.txt", "one\n");
    let stamp = SystemTime::now();
    set_mtime(&tree.path("fresh.txt"), stamp);
    let c = changes(&tree, |t| {
        t.write("fresh.txt", "two\n");
        set_mtime(&t.path("fresh.txt"), stamp);
    });
    assert_eq!(c.modified, ["fresh.txt"]);
}

#[test]
fn touching_a_recent_file_without_changing_it_is_not_a_change() {
    let tree = Tree::new("");
    tree.write("same.txt", "unchanged\n");
    let c = changes(&tree, |t| t.write("same.txt", "unchanged\n"));
    assert_eq!(c, Changes::default());
}

#[test]
fn ignored_directories_are_pruned_and_globs_apply_at_any_depth() {
    let tree = Tree::new("");
    let c = changes(&tree, |t| {
        for rel in [
            ".git/objects/ab/cdef",
            "node_modules/pkg/index.js",
            "web/node_modules/pkg/index.js",
            "target/debug/app",
            "build/out.bin",
            "src/obj/main.o",
            "cmake/CMakeFiles/app.dir/main.c.o",
            "build-debug/x.txt",
            "src/main.c",
        ] {
            t.write(rel, "x\n");
        }
    });
    assert_eq!(c.added, ["src/main.c"]);
}

#[test]
fn runtime_files_are_excluded_by_their_paths_only() {
    let tree = Tree::new("[files]\nlog_dir = \"out/logs\"\n");
    let c = changes(&tree, |t| {
        for rel in [
            "task.json",
            "progress.txt",
            "TASK.md",
            "out/logs/autodev.log",
            "out/logs/attempts/codex/task_1.log",
            "fixtures/task.json",
            "docs/progress.txt",
            "out/report.txt",
        ] {
            t.write(rel, "x\n");
        }
    });
    assert_eq!(
        c.added,
        ["docs/progress.txt", "fixtures/task.json", "out/report.txt"]
    );
}

#[test]
fn include_globs_and_watch_dirs_narrow_what_is_tracked() {
    let tree = Tree::new(
        "[snapshot]\nwatch_dirs = [\"src\", \"tests\"]\ninclude_path_globs = [\"**/*.rs\"]\n",
    );
    let c = changes(&tree, |t| {
        for rel in ["src/a.rs", "src/notes.md", "tests/b.rs", "other/c.rs"] {
            t.write(rel, "x\n");
        }
    });
    assert_eq!(c.added, ["src/a.rs", "tests/b.rs"]);
}

#[test]
fn a_bad_glob_names_the_setting() {
    let tree = Tree::new("[snapshot]\nignore_path_globs = [\"**/*.o\", \"src/[a\"]\n");
    let settings = tree.settings();
    let err = Rules::new(&settings.config, &settings.paths).expect_err("bad glob");
    assert!(
        err.to_string().contains("snapshot.ignore_path_globs"),
        "{err}"
    );
    assert!(err.to_string().contains("src/[a"), "{err}");
}

#[test]
fn globs_are_anchored_like_path_patterns_and_old_style_ones_warn() {
    let tree = Tree::new("[snapshot]\nignore_path_globs = [\"*.log\", \"docs/*.tmp\"]\n");
    let settings = tree.settings();
    let warning = settings
        .warnings
        .iter()
        .find(|w| w.0.contains("snapshot.ignore_path_globs"))
        .expect("a warning for *.log");
    assert!(warning.0.contains("write **/*.log"), "{}", warning.0);
    let c = changes(&tree, |t| {
        for rel in ["top.log", "deep/run.log", "docs/a.tmp", "docs/sub/b.tmp"] {
            t.write(rel, "x\n");
        }
    });
    assert_eq!(c.added, ["deep/run.log", "docs/sub/b.tmp"]);
}

#[test]
fn symlinks_are_recorded_not_followed() {
    let tree = Tree::new("");
    tree.write("real/file.txt", "x\n");
    let c = changes(&tree, |t| {
        std::os::unix::fs::symlink(t.path("real"), t.path("link")).expect("symlink");
    });
    assert_eq!(c.added, ["link"]);
}

#[test]
fn a_huge_sparse_file_is_judged_by_its_stat_and_never_read() {
    let tree = Tree::new("");
    let rules = tree.rules();
    // 20 GiB of holes, written just now: a snapshot that read it would take a minute.
    let huge = fs::File::create(tree.path("disk.img")).expect("create");
    huge.set_len(20 * 1024 * 1024 * 1024).expect("sparse");
    drop(huge);
    tree.write("small.txt", "same\n");
    let before = Snapshot::take(&rules, None);
    // The same bytes again: a small recent file is compared by content, a huge one by stat.
    tree.write("small.txt", "same\n");
    let huge = fs::OpenOptions::new()
        .write(true)
        .open(tree.path("disk.img"))
        .expect("open");
    huge.set_len(20 * 1024 * 1024 * 1024).expect("same length");
    huge.set_modified(SystemTime::now() + Duration::from_secs(1))
        .expect("touch");
    drop(huge);
    let after = Snapshot::take(&rules, Some(&before));
    let changes: Changes = diff(&before, &after);
    assert_eq!(changes.modified, vec!["disk.img".to_string()]);
}
