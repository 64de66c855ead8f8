//! The remembered-replays reader (`._qik/replays`, read on every run): any
//! bytes load as records or as nothing with one warning, never a panic; an
//! entry that is not on disk is never replayed from it; and what a save
//! writes back loads without a warning.
#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use qik_core::cache::Replays;

static DIR: LazyLock<tempfile::TempDir> =
    LazyLock::new(|| tempfile::tempdir().expect("a temp dir"));

fuzz_target!(|data: &[u8]| {
    let path: PathBuf = DIR.path().join("replays");
    std::fs::write(&path, data).expect("write the replays file");
    let replays = Replays::load(path.clone());
    let entry = DIR.path().join("cache/cmd/run/0123");
    let out = DIR.path().join("out/run.out");
    assert_eq!(replays.check(&entry, &out), None, "no such entry on disk");
    let damaged = replays.take_problem().is_some();
    replays.save().expect("save the replays file");
    let again = Replays::load(path);
    assert!(
        again.take_problem().is_none(),
        "a saved file loads without a warning (the first load warned: {damaged})"
    );
});
