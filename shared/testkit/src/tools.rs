//! Where the test tools are: `.venv/bin` of the workspace (what `scripts/venv` installs from
//! `scripts/requirements-test.txt`), else `PATH`.

use std::path::{Path, PathBuf};

/// The workspace root: the nearest ancestor of this crate holding `Cargo.lock`.
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().find(|d| d.join("Cargo.lock").is_file()).unwrap_or(here).to_path_buf()
}

/// The path of a test tool. Panics (the test fails, it is not skipped) when the tool is in
/// neither `.venv/bin` nor `PATH`, saying how to install it.
pub fn tool(name: &str) -> PathBuf {
    let venv = workspace_root().join(".venv/bin").join(name);
    if venv.is_file() {
        return venv;
    }
    if let Some(found) =
        std::env::var_os("PATH").iter().flat_map(std::env::split_paths).map(|dir| dir.join(name)).find(|p| p.is_file())
    {
        return found;
    }
    panic!(
        "the test tool `{name}` is missing: run scripts/venv (it installs scripts/requirements-test.txt \
         into {}/.venv), or put `{name}` on PATH",
        workspace_root().display()
    )
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0 to find a free port");
    listener.local_addr().expect("local address of a bound listener").port()
}
