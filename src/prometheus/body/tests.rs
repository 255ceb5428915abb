use std::io::Write;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;

use super::*;
use crate::prometheus::QueryResult;
use crate::prometheus::response::{LabelList, SeriesSet};

const LIMIT: usize = 64 << 20;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// A response whose body arrives in `chunk`-byte pieces, then fails if `fail` is set.
struct Chunks {
    headers: http::HeaderMap,
    chunks: std::collections::VecDeque<Bytes>,
    fail: bool,
}

impl Wire for Chunks {
    fn headers(&self) -> &http::HeaderMap {
        &self.headers
    }

    async fn chunk(&mut self) -> Result<Option<Bytes>, TransportError> {
        match self.chunks.pop_front() {
            Some(chunk) => Ok(Some(chunk)),
            None if self.fail => Err("connection reset".into()),
            None => Ok(None),
        }
    }
}

fn response(body: &[u8], chunk: usize, encoding: Option<&str>, fail: bool) -> Chunks {
    let mut headers = http::HeaderMap::new();
    if let Some(e) = encoding {
        headers.insert("content-encoding", e.parse().unwrap());
    }
    Chunks {
        headers,
        chunks: body.chunks(chunk).map(Bytes::copy_from_slice).collect(),
        fail,
    }
}

/// Marks transport failures, so a test can tell them from decoding failures.
fn transport(_: TransportError) -> Error {
    Error::Status(599)
}

/// A series list of `n` series over a few label sets, with values that do not compress away.
fn series_body(n: usize) -> Vec<u8> {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut random = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        format!("{:016x}", seed)
    };
    let mut body = String::from(r#"{"status":"success","data":["#);
    for i in 0..n {
        if i > 0 {
            body.push(',');
        }
        let extra = if i % 3 == 0 { r#","node":"n""# } else { "" };
        body += &format!(
            r#"{{"__name__":"m_{}","namespace":"ns","pod":"{}","id":"{}"{extra}}}"#,
            i % 5,
            random(),
            random()
        );
    }
    body += "]}";
    body.into_bytes()
}

#[tokio::test]
async fn small_answers_are_decoded_in_place_plain_or_gzipped() {
    let body = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"p"},"value":[1,"2.5"]}]}}"#;
    for (wire, encoding) in [
        (body.to_vec(), None),
        (body.to_vec(), Some("identity")),
        (gzip(body), Some("gzip")),
    ] {
        let (result, bytes) =
            read::<QueryResult>(&mut response(&wire, 7, encoding, false), LIMIT, transport)
                .await
                .unwrap();
        let QueryResult::Vector(samples) = result else {
            panic!("{result:?}")
        };
        assert_eq!(samples[0].value, 2.5);
        assert_eq!(bytes, wire.len() as u64);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_answers_stream_through_the_decoder() {
    let body = series_body(20_000);
    let expected: SeriesSet = response::decode_slice(&body).unwrap();
    assert_eq!(expected.0.len(), 10);
    let zipped = gzip(&body);
    assert!(zipped.len() > INLINE_WIRE_BYTES * 4, "{}", zipped.len());
    for (wire, encoding) in [(body.clone(), None), (zipped, Some("gzip"))] {
        let (set, bytes) = read::<SeriesSet>(
            &mut response(&wire, 8 << 10, encoding, false),
            LIMIT,
            transport,
        )
        .await
        .unwrap();
        assert_eq!(set, expected);
        assert_eq!(bytes, wire.len() as u64);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_failing_mid_answer_is_a_transport_error() {
    let body = series_body(20_000);
    for size in [body.len() / 2, 1000] {
        for (wire, encoding) in [
            (body[..size].to_vec(), None),
            (gzip(&body)[..size / 4].to_vec(), Some("gzip")),
        ] {
            let err = read::<SeriesSet>(
                &mut response(&wire, 8 << 10, encoding, true),
                LIMIT,
                transport,
            )
            .await
            .unwrap_err();
            assert!(
                matches!(err, Error::Status(599)),
                "{size} {encoding:?}: {err}"
            );
        }
    }
    // The same truncation without a connection error: the answer does not decode.
    let zipped = gzip(&body);
    for wire in [&zipped[..zipped.len() / 2], &zipped[..100]] {
        let err = read::<SeriesSet>(
            &mut response(wire, 8 << 10, Some("gzip"), false),
            LIMIT,
            transport,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Decode(_)), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_over_the_limit_are_refused_however_small_on_the_wire() {
    // 8 MiB of whitespace inflate from a few KiB.
    let mut bomb = br#"{"status":"success","data":["#.to_vec();
    bomb.extend(std::iter::repeat_n(b' ', 8 << 20));
    bomb.extend(b"]}");
    let zipped = gzip(&bomb);
    assert!(zipped.len() < INLINE_WIRE_BYTES);
    let err = read::<LabelList>(
        &mut response(&zipped, 4096, Some("gzip"), false),
        1 << 20,
        transport,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::TooLarge(_)), "{err}");
    let large = series_body(20_000);
    for (wire, encoding) in [(gzip(&large), Some("gzip")), (large, None)] {
        let err = read::<SeriesSet>(
            &mut response(&wire, 8 << 10, encoding, false),
            1 << 20,
            transport,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::TooLarge(_)), "{encoding:?}: {err}");
    }
}

#[tokio::test]
async fn unknown_encodings_are_refused_and_empty_label_lists_may_be_null() {
    let err = read::<LabelList>(
        &mut response(b"{}", 10, Some("br"), false),
        LIMIT,
        transport,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("unsupported content encoding"),
        "{err}"
    );
    for body in [
        &br#"{"status":"success","data":null}"#[..],
        br#"{"status":"success"}"#,
    ] {
        let (list, _) = read::<LabelList>(&mut response(body, 10, None, false), LIMIT, transport)
            .await
            .unwrap();
        assert!(list.0.is_empty());
        let err = read::<SeriesSet>(&mut response(body, 10, None, false), LIMIT, transport)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Decode(_)), "{err}");
    }
    let body = br#"{"status":"success","data":["__name__","pod"]}"#;
    let (list, _) = read::<LabelList>(&mut response(body, 10, None, false), LIMIT, transport)
        .await
        .unwrap();
    assert_eq!(list.0, ["__name__", "pod"]);
    let refused = br#"{"status":"error","errorType":"422","error":"too many series"}"#;
    let err = read::<LabelList>(&mut response(refused, 10, None, false), LIMIT, transport)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "422: too many series");
}
