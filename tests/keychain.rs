//! The vault against the real Secret Service (gnome-keyring in a private session bus).

use latchkey_core::vault::{KeyringVault, Vault};
use latchkey_harness::{secret_service, temp_dir};
use secrecy::{ExposeSecret, SecretString};

#[test]
fn store_read_replace_and_delete_a_secret() {
    secret_service();
    let service = format!("app.latchkey.test.{}", temp_dir("kc").file_name().unwrap().to_string_lossy());
    let v = KeyringVault::new(&service);
    assert!(v.get("connection:x").unwrap().is_none(), "missing entry is Ok(None)");
    v.set("connection:x", &SecretString::from("first")).unwrap();
    assert_eq!(v.get("connection:x").unwrap().unwrap().expose_secret(), "first");
    // A second vault object (as another process would) sees the same entry.
    assert_eq!(KeyringVault::new(&service).get("connection:x").unwrap().unwrap().expose_secret(), "first");
    // A JWT-sized value fits.
    let long = "x".repeat(8000);
    v.set("connection:x", &SecretString::from(long.clone())).unwrap();
    assert_eq!(v.get("connection:x").unwrap().unwrap().expose_secret(), long);
    // Entries are namespaced by service.
    assert!(KeyringVault::new(format!("{service}.other")).get("connection:x").unwrap().is_none());
    v.delete("connection:x").unwrap();
    assert!(v.get("connection:x").unwrap().is_none());
    v.delete("connection:x").unwrap();
}
