use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::*;

const KEY: &str = "dhgw_unit-test-key";

/// A fresh folder of this test's own, removed when dropped.
struct Folder(PathBuf);

impl Folder {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("dh-drive-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("a temporary folder");
        Self(path)
    }

    /// A file `name` holding `text`, of mode `mode`; its path as a flag takes it.
    fn file(&self, name: &str, text: &str, mode: u32) -> String {
        let path = self.0.join(name);
        fs::write(&path, text).expect("written");
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
        path_text(&path)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn path_text(path: &Path) -> String {
    path.to_str().expect("a UTF-8 path").to_owned()
}

#[test]
fn the_key_is_read_with_its_whitespace_trimmed() {
    let folder = Folder::new("key-ok");
    let path = folder.file("api-key", &format!("  {KEY}\n\n"), 0o600);
    assert_eq!(read_api_key(&path).as_deref(), Ok(KEY));
    let path = folder.file("read-only", KEY, 0o400);
    assert_eq!(read_api_key(&path).as_deref(), Ok(KEY));
}

#[test]
fn a_key_file_others_may_use_is_refused_with_the_chmod_to_fix_it() {
    let folder = Folder::new("key-mode");
    for mode in [0o644, 0o640, 0o604, 0o620, 0o610, 0o602, 0o601] {
        let path = folder.file("api-key", KEY, mode);
        let error = read_api_key(&path).expect_err("readable by others");
        assert_eq!(
            error,
            format!("--api-key-file {path} may be read by other users: chmod 600 {path}"),
            "mode {mode:o}"
        );
        assert!(!error.contains(KEY));
    }
}

#[test]
fn a_missing_key_file_is_named() {
    let folder = Folder::new("key-missing");
    let path = path_text(&folder.0.join("missing"));
    assert_eq!(
        read_api_key(&path),
        Err(format!("--api-key-file {path}: No such file or directory"))
    );
}

#[test]
fn an_empty_key_file_is_refused() {
    let folder = Folder::new("key-empty");
    for text in ["", " \n\t\n"] {
        let path = folder.file("api-key", text, 0o600);
        assert_eq!(
            read_api_key(&path),
            Err(format!("--api-key-file {path} is empty"))
        );
    }
}

#[test]
fn the_key_file_gives_the_connection_its_key() {
    let folder = Folder::new("key-connection");
    let flags = ConnectionFlags {
        addr: Some("127.0.0.1:1".into()),
        api_key_file: Some(folder.file("api-key", KEY, 0o600)),
        ..ConnectionFlags::default()
    };
    let connection = connection_of(&flags).expect("valid");
    assert_eq!(connection.api_key.as_deref(), Some(KEY));
    assert_eq!(connection.address, "127.0.0.1:1");
    let flags = ConnectionFlags {
        api_key_file: Some(path_text(&folder.0.join("missing"))),
        ..flags
    };
    assert!(matches!(connection_of(&flags), Err(Stop::Usage(m)) if m.contains("No such file")));
}

#[test]
fn an_unreadable_tls_file_or_a_lone_certificate_is_a_usage_error() {
    let folder = Folder::new("tls-files");
    let missing = path_text(&folder.0.join("ca.pem"));
    let flags = ConnectionFlags {
        ca: Some(missing.clone()),
        ..ConnectionFlags::default()
    };
    assert!(matches!(connection_of(&flags), Err(Stop::Usage(m)) if m.starts_with(&missing)));
    let flags = ConnectionFlags {
        cert: Some(folder.file("cert.pem", "", 0o600)),
        ..ConnectionFlags::default()
    };
    assert!(matches!(connection_of(&flags), Err(Stop::Usage(m)) if m.contains("needs its key")));
}

#[test]
fn the_tls_flags_make_a_tls_connection() {
    let folder = Folder::new("tls-on");
    let flags = ConnectionFlags {
        addr: Some("127.0.0.1:1".into()),
        ca: Some(folder.file("ca.pem", "", 0o644)),
        server_name: Some("localhost".into()),
        ..ConnectionFlags::default()
    };
    let connection = connection_of(&flags).expect("valid");
    assert!(connection.tls, "--ca implies TLS");
    assert_eq!(connection.server_name, "localhost");
}

#[test]
fn strerror_drops_rusts_os_error_number() {
    let error = io::Error::from_raw_os_error(2);
    assert_eq!(strerror(&error), "No such file or directory");
    let error = io::Error::other("plain");
    assert_eq!(strerror(&error), "plain");
}
