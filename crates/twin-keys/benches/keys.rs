//! Criterion benchmarks of the key operations on a server's request path (parse, hash,
//! verify) and of generation.
//!
//! Run with `cargo bench -p twin-keys`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use twin_keys::{KeyFormat, KeyHasher, Pepper};

fn benches(c: &mut Criterion) {
    let format = KeyFormat::twin();
    let sha256 = KeyHasher::sha256();
    let hmac = KeyHasher::with_pepper(Pepper::new(1, [0x42_u8; 32]).unwrap());
    let key = format.generate("live").unwrap();
    let plain = key.expose_secret();
    let stored_sha256 = sha256.hash(plain);
    let stored_hmac = hmac.hash(plain);

    c.bench_function("generate", |b| {
        b.iter(|| format.generate(black_box("live")).unwrap());
    });
    c.bench_function("parse", |b| {
        b.iter(|| format.parse(black_box(plain)).unwrap().id());
    });
    c.bench_function("hash/sha256", |b| b.iter(|| sha256.hash(black_box(plain))));
    c.bench_function("hash/hmac-sha256", |b| {
        b.iter(|| hmac.hash(black_box(plain)))
    });
    c.bench_function("verify/sha256", |b| {
        b.iter(|| sha256.verify(black_box(plain), black_box(&stored_sha256)));
    });
    c.bench_function("verify/hmac-sha256", |b| {
        b.iter(|| hmac.verify(black_box(plain), black_box(&stored_hmac)));
    });
    // The whole check a server makes per request once it has the stored row: parse, then
    // hash and compare in constant time.
    c.bench_function("parse+verify/hmac-sha256", |b| {
        b.iter(|| {
            let parsed = format.parse(black_box(plain)).unwrap();
            hmac.verify(parsed.expose_secret(), black_box(&stored_hmac))
        });
    });
}

criterion_group!(keys, benches);
criterion_main!(keys);
