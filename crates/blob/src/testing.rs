//! The suite every driver must pass.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;

use crate::{BlobDriver, BlobError, ByteStream};

fn stream_of(chunks: &[&'static [u8]]) -> ByteStream {
    let items: Vec<std::io::Result<Bytes>> =
        chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
    Box::pin(futures_util::stream::iter(items))
}

async fn collect(s: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut s = s;
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

/// Runs every check against `d`, which must start empty.
pub async fn run_suite(d: &dyn BlobDriver) {
    // append creates, then extends
    assert_eq!(d.size("up/1").await.unwrap(), None);
    assert_eq!(
        d.append("up/1", stream_of(&[b"hello ", b""]))
            .await
            .unwrap(),
        6
    );
    assert_eq!(
        d.append("up/1", stream_of(&[b"wor", b"ld"])).await.unwrap(),
        11
    );
    assert_eq!(d.size("up/1").await.unwrap(), Some(11));

    // ranged reads
    assert_eq!(
        collect(d.read("up/1", 0, None).await.unwrap()).await,
        b"hello world"
    );
    assert_eq!(
        collect(d.read("up/1", 6, Some(3)).await.unwrap()).await,
        b"wor"
    );
    assert_eq!(collect(d.read("up/1", 11, None).await.unwrap()).await, b"");
    assert!(matches!(
        d.read("nothing", 0, None).await,
        Err(BlobError::NotFound(_))
    ));

    // commit moves atomically; a second commit to the same content-addressed path keeps the first
    d.commit("up/1", "blobs/x/final").await.unwrap();
    assert_eq!(d.size("up/1").await.unwrap(), None);
    assert_eq!(
        collect(d.read("blobs/x/final", 0, None).await.unwrap()).await,
        b"hello world"
    );
    d.append("up/2", stream_of(&[b"hello world"]))
        .await
        .unwrap();
    d.commit("up/2", "blobs/x/final").await.unwrap();
    assert_eq!(
        d.size("up/2").await.unwrap(),
        None,
        "the duplicate upload is removed"
    );
    assert_eq!(d.size("blobs/x/final").await.unwrap(), Some(11));
    assert!(
        matches!(
            d.commit("up/missing", "blobs/x/other").await,
            Err(BlobError::NotFound(_))
        ),
        "committing nothing is NotFound"
    );

    // an incoming stream that fails reports it, and what was received stays where it was put
    let failing: ByteStream = Box::pin(futures_util::stream::iter(vec![
        Ok(Bytes::from_static(b"abc")),
        Err(std::io::Error::other("client went away")),
    ]));
    assert!(matches!(
        d.append("up/3", failing).await,
        Err(BlobError::Incoming(_))
    ));
    assert_eq!(d.size("up/3").await.unwrap(), Some(3));

    // listing what is under a folder and older than a time (whole seconds on some stores),
    // with the driver's own bookkeeping of an object being appended to (S3's parts) named below
    // the object's path
    d.append("old/a", stream_of(&[b"1"])).await.unwrap();
    d.append("old/a", stream_of(&[b"2"])).await.unwrap();
    d.append("old/b/c", stream_of(&[b"3"])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    d.append("old/new", stream_of(&[b"4"])).await.unwrap();
    let old = d.list_older("old", Duration::from_secs(1)).await.unwrap();
    assert!(
        old.iter().any(|p| p.starts_with("old/a")) && old.iter().any(|p| p.starts_with("old/b/c")),
        "{old:?}"
    );
    assert!(!old.iter().any(|p| p.starts_with("old/new")), "{old:?}");
    assert!(old.iter().all(|p| p.starts_with("old/")), "{old:?}");
    let hour = Duration::from_secs(3600);
    assert_eq!(
        d.list_older("old", hour).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        d.list_older("none", hour).await.unwrap(),
        Vec::<String>::new()
    );
    for path in ["old/a", "old/b/c", "old/new"] {
        d.delete(path).await.unwrap();
    }
    assert_eq!(
        d.list_older("old", Duration::ZERO).await.unwrap(),
        Vec::<String>::new(),
        "deleting an object takes what was kept for it"
    );

    // delete, idempotently
    d.delete("blobs/x/final").await.unwrap();
    d.delete("blobs/x/final").await.unwrap();
    assert_eq!(d.size("blobs/x/final").await.unwrap(), None);

    // paths cannot escape the store
    for bad in ["", "/abs", "a/../b", "a//b", "./a", ".."] {
        assert!(
            matches!(d.size(bad).await, Err(BlobError::BadPath(_))),
            "{bad}"
        );
        assert!(
            matches!(
                d.append(bad, stream_of(&[b"x"])).await,
                Err(BlobError::BadPath(_))
            ),
            "{bad}"
        );
    }
}
