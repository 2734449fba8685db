//! One suite, every backend (as object_store does): what the rest of the tool relies on.

use etl::store::{ObjectStore, StoreError};

use crate::util::*;

async fn contract(store: &dyn ObjectStore) {
    // put / get / overwrite
    store.put("datasets/x/a.txt", b"one".to_vec()).await.unwrap();
    store.put("datasets/x/a.txt", b"two".to_vec()).await.unwrap();
    assert_eq!(store.get("datasets/x/a.txt").await.unwrap(), b"two");
    assert!(matches!(store.get("datasets/x/missing").await, Err(StoreError::NotFound { .. })));

    // put_file
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), b"from a file").unwrap();
    let etag = store.put_file("datasets/x/sub/b.parquet", tmp.path()).await.unwrap();
    assert_eq!(store.get("datasets/x/sub/b.parquet").await.unwrap(), b"from a file");

    // holds: proven by the store's checksum or by the bytes, never by the size (issue 14)
    let sha = |bytes: &[u8]| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes));
    let listed = store.list("datasets/x/sub/").await.unwrap().remove(0);
    eprintln!("{}: put_file's checksum {etag:?}, the listing's {:?}", store.url(), listed.etag);
    assert!(store.holds(&listed, &sha(b"from a file"), etag.as_deref()).await.unwrap());
    store.put("datasets/x/sub/b.parquet", b"from a fil3".to_vec()).await.unwrap();
    let listed = store.list("datasets/x/sub/").await.unwrap().remove(0);
    assert_eq!(listed.size, 11, "same size, other bytes");
    assert!(!store.holds(&listed, &sha(b"from a file"), etag.as_deref()).await.unwrap());
    store.put("datasets/x/sub/b.parquet", b"from a file".to_vec()).await.unwrap();

    // list is by prefix: `datasets/x/` never matches `datasets/x-old/`
    store.put("datasets/x-old/c.txt", b"neighbour".to_vec()).await.unwrap();
    let keys: Vec<String> = store.list("datasets/x/").await.unwrap().into_iter().map(|o| o.key).collect();
    assert_eq!(keys, vec!["datasets/x/a.txt", "datasets/x/sub/b.parquet"]);
    assert_eq!(store.list("datasets/x/sub/").await.unwrap()[0].size, 11);
    assert!(store.list("datasets/none/").await.unwrap().is_empty());

    // more keys than one listing page or one delete batch holds
    let many: Vec<String> = (0..2500).map(|i| format!("datasets/many/k{i:05}")).collect();
    futures::future::try_join_all(many.iter().map(|k| store.put(k, Vec::new()))).await.unwrap();
    assert_eq!(store.list("datasets/many/").await.unwrap().len(), 2500);
    store.delete_many(&many).await.unwrap();
    assert!(store.list("datasets/many/").await.unwrap().is_empty());

    // deleting exactly the given keys; gone keys are fine
    store
        .delete_many(&[
            "datasets/x/a.txt".into(),
            "datasets/x/sub/b.parquet".into(),
            "datasets/x/never".into(),
        ])
        .await
        .unwrap();
    assert!(store.list("datasets/x/").await.unwrap().is_empty());
    assert_eq!(store.list("datasets/x-old/").await.unwrap().len(), 1);
    store.delete_many(&["datasets/x-old/c.txt".into()]).await.unwrap();
}

#[test]
fn local_folder() {
    let dir = tempfile::tempdir().unwrap();
    let store = etl::store::LocalStore::new(dir.path()).unwrap();
    runtime().block_on(contract(&store));
}

#[test]
fn s3_server() {
    let Some(s3) = s3_env() else { return };
    runtime().block_on(async {
        let store = s3.store(&s3.target("contract")).await;
        contract(store.as_ref()).await;
    });
}

#[test]
fn s3_multipart_upload_of_a_large_file() {
    let Some(s3) = s3_env() else { return };
    runtime().block_on(async {
        let store = s3.store(&s3.target("multipart")).await;
        // 40 MiB of varied bytes: above the multipart threshold, three parts.
        let data: Vec<u8> = (0..40u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), &data).unwrap();
        store.put_file("datasets/big/data/part-0000.parquet", tmp.path()).await.unwrap();
        let back = store.get("datasets/big/data/part-0000.parquet").await.unwrap();
        assert!(back == data, "the object differs from the file");
        store.delete_many(&["datasets/big/data/part-0000.parquet".into()]).await.unwrap();
    });
}
