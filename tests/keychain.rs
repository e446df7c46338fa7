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

/// Another program's view of the keychain: the items that carry `username` = `key`.
fn items(service: &str, key: &str) -> Vec<secret_service::blocking::Item<'static>> {
    // Leaked: the test's items borrow the connection.
    let ss = Box::leak(Box::new(
        secret_service::blocking::SecretService::connect(secret_service::EncryptionType::Dh).expect("secret service"),
    ));
    let found = ss.search_items(std::collections::HashMap::from([("service", service), ("username", key)])).unwrap();
    assert!(found.locked.is_empty());
    found.unlocked
}

#[test]
fn a_write_soon_after_a_read_goes_to_the_item_the_read_found() {
    secret_service();
    let service = format!("app.latchkey.test.{}", temp_dir("kc-recent").file_name().unwrap().to_string_lossy());
    let v = KeyringVault::new(&service);
    v.set("connection:r", &SecretString::from("one")).unwrap();
    assert_eq!(v.get("connection:r").unwrap().unwrap().expose_secret(), "one");
    assert_eq!(v.searches(), 1, "a read searches once");
    // Another program renames the item: a search for the entry no longer finds it.
    let item = items(&service, "connection:r").pop().expect("the item");
    item.set_attributes(std::collections::HashMap::from([("service", service.as_str()), ("username", "moved")]))
        .unwrap();
    v.set("connection:r", &SecretString::from("two")).unwrap();
    assert_eq!(v.searches(), 1, "the write searched nothing");
    let other = KeyringVault::new(&service);
    assert_eq!(other.get("moved").unwrap().unwrap().expose_secret(), "two", "written to the item the read found");
    assert!(other.get("connection:r").unwrap().is_none(), "no second item was made");
    // Without a read just before, a write finds its item by searching (here: makes a new one).
    v.set("connection:r", &SecretString::from("three")).unwrap();
    assert_eq!(other.get("connection:r").unwrap().unwrap().expose_secret(), "three");
    assert_eq!(other.get("moved").unwrap().unwrap().expose_secret(), "two");
    other.delete("moved").unwrap();
    other.delete("connection:r").unwrap();
}

#[test]
fn a_write_after_its_item_was_replaced_lands_on_the_new_item() {
    secret_service();
    let service = format!("app.latchkey.test.{}", temp_dir("kc-replaced").file_name().unwrap().to_string_lossy());
    let v = KeyringVault::new(&service);
    v.set("connection:p", &SecretString::from("one")).unwrap();
    assert_eq!(v.get("connection:p").unwrap().unwrap().expose_secret(), "one");
    // Between the read and the write, another process removes the entry and makes it again.
    let other = KeyringVault::new(&service);
    other.delete("connection:p").unwrap();
    other.set("connection:p", &SecretString::from("other")).unwrap();
    v.set("connection:p", &SecretString::from("two")).unwrap();
    assert_eq!(items(&service, "connection:p").len(), 1, "one item for the entry");
    assert_eq!(other.get("connection:p").unwrap().unwrap().expose_secret(), "two");
    // Removed between a read and a write: the write makes it again.
    assert_eq!(v.get("connection:p").unwrap().unwrap().expose_secret(), "two");
    other.delete("connection:p").unwrap();
    v.set("connection:p", &SecretString::from("three")).unwrap();
    assert_eq!(other.get("connection:p").unwrap().unwrap().expose_secret(), "three");
    // A missing entry reads as none, and forgets what an earlier read found.
    other.delete("connection:p").unwrap();
    assert!(v.get("connection:p").unwrap().is_none());
    v.delete("connection:p").unwrap();
}
