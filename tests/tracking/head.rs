//! The spawn-free `HEAD` marker that decides when the prompt's commit list is read again: it
//! must move with every commit, however git stores the ref, and never claim to know when it
//! cannot tell.

use std::fs;

use autodev::git::head_marker;

use crate::common::git;

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    git(dir.path(), &["init", "-q", "-b", "main"]);
    dir
}

fn commit(dir: &std::path::Path, name: &str) {
    fs::write(dir.join(name), name).expect("write");
    git(dir, &["add", name]);
    git(dir, &["commit", "-q", "-m", name]);
}

#[test]
fn moves_with_each_commit_and_amend_and_reads_from_subdirectories() {
    let dir = repo();
    let empty = head_marker(dir.path()).expect("an unborn branch still has a marker");
    commit(dir.path(), "a");
    let first = head_marker(dir.path()).expect("marker");
    assert_ne!(empty, first);
    fs::create_dir(dir.path().join("sub")).expect("mkdir");
    assert_eq!(head_marker(&dir.path().join("sub")), Some(first.clone()));
    commit(dir.path(), "b");
    let second = head_marker(dir.path()).expect("marker");
    assert_ne!(first, second);
    git(dir.path(), &["commit", "-q", "--amend", "-m", "b again"]);
    assert_ne!(head_marker(dir.path()).expect("marker"), second);
}

#[test]
fn follows_packed_refs_branch_switches_and_detached_heads() {
    let dir = repo();
    commit(dir.path(), "a");
    git(dir.path(), &["pack-refs", "--all"]);
    assert!(!dir.path().join(".git/refs/heads/main").exists());
    let packed = head_marker(dir.path()).expect("marker from packed-refs");
    assert!(packed.contains(git(dir.path(), &["rev-parse", "HEAD"]).trim()));
    git(dir.path(), &["checkout", "-q", "-b", "other"]);
    commit(dir.path(), "b");
    let other = head_marker(dir.path()).expect("marker");
    assert_ne!(packed, other);
    git(dir.path(), &["checkout", "-q", "--detach", "main"]);
    let detached = head_marker(dir.path()).expect("marker");
    assert_eq!(detached, git(dir.path(), &["rev-parse", "HEAD"]).trim());
}

#[test]
fn linked_worktrees_use_their_own_head_and_the_shared_refs() {
    let dir = repo();
    commit(dir.path(), "a");
    let tree = dir.path().join("wt");
    git(
        dir.path(),
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "side",
            tree.to_str().expect("utf-8"),
        ],
    );
    let before = head_marker(&tree).expect("marker in a linked worktree");
    assert!(before.starts_with("refs/heads/side "));
    commit(&tree, "b");
    assert_ne!(head_marker(&tree).expect("marker"), before);
}

#[test]
fn outside_a_repository_there_is_no_marker() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The walk up would find a repository above the temp dir: this machine must have none there
    // (a failure here says so, rather than the test passing without asserting anything).
    let above = dir.path().ancestors().find(|a| a.join(".git").exists());
    assert_eq!(
        above, None,
        "a repository above the temp dir hides what this tests"
    );
    assert_eq!(head_marker(dir.path()), None);
}
