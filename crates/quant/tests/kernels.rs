//! Every build of each kernel (dispatched: AVX-512 on this CI's CPUs, AVX2,
//! baseline) against the
//! one-element-at-a-time reference, over awkward tail lengths.

mod common;

use common::Rng;
use proptest::prelude::*;
use semvec_quant::kernels::{self, scalar};

fn bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.next_u64() as u8).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn dot_f32_u8_matches_the_reference(n in 0usize..300, seed: u64) {
        let mut rng = Rng::new(seed);
        let (q, c) = (rng.gaussian(n), bytes(&mut rng, n));
        let want = scalar::dot_f32_u8(&q, &c);
        let scale: f64 = q.iter().zip(&c).map(|(&x, &y)| (x as f64 * y as f64).abs()).sum::<f64>() + 1.0;
        for got in [Some(kernels::dot_f32_u8(&q, &c)), Some(kernels::dot_f32_u8_portable(&q, &c)), kernels::dot_f32_u8_avx2(&q, &c)]
            .into_iter()
            .flatten() {
            prop_assert!((got as f64 - want).abs() <= 1e-5 * scale, "{got} vs {want}");
        }
    }

    #[test]
    fn dot_u8_u8_matches_the_reference(n in 0usize..300, seed: u64) {
        let mut rng = Rng::new(seed);
        let (a, b) = (bytes(&mut rng, n), bytes(&mut rng, n));
        let want = scalar::dot_u8_u8(&a, &b);
        prop_assert_eq!(kernels::dot_u8_u8(&a, &b), want);
        prop_assert_eq!(kernels::dot_u8_u8_portable(&a, &b), want);
        prop_assert!(kernels::dot_u8_u8_avx2(&a, &b).is_none_or(|got| got == want));
    }

    #[test]
    fn dot_f32_u4_matches_the_reference(n in 0usize..300, seed: u64) {
        let mut rng = Rng::new(seed);
        let q = rng.gaussian(n);
        let mut c = bytes(&mut rng, n.div_ceil(2));
        if n % 2 == 1 {
            // A padding nibble is 0 in a code; the kernel must not read it either way.
            *c.last_mut().unwrap() |= 0xF0;
        }
        let want = scalar::dot_f32_u4(&q, &c);
        let scale: f64 = q.iter().map(|&x| x.abs() as f64 * 15.0).sum::<f64>() + 1.0;
        for got in [Some(kernels::dot_f32_u4(&q, &c)), Some(kernels::dot_f32_u4_portable(&q, &c)), kernels::dot_f32_u4_avx2(&q, &c)]
            .into_iter()
            .flatten() {
            prop_assert!((got as f64 - want).abs() <= 1e-5 * scale, "{got} vs {want}");
        }
    }

    #[test]
    fn dot_u4_u4_matches_the_reference(n in 0usize..300, seed: u64) {
        let mut rng = Rng::new(seed);
        let (a, b) = (bytes(&mut rng, n), bytes(&mut rng, n));
        let want = scalar::dot_u4_u4(&a, &b);
        prop_assert_eq!(kernels::dot_u4_u4(&a, &b), want);
        prop_assert_eq!(kernels::dot_u4_u4_portable(&a, &b), want);
        prop_assert!(kernels::dot_u4_u4_avx2(&a, &b).is_none_or(|got| got == want));
    }

    #[test]
    fn signed_sum_matches_the_reference(n in 1usize..300, seed: u64) {
        let mut rng = Rng::new(seed);
        let (bits, u) = (bytes(&mut rng, n.div_ceil(8)), rng.gaussian(n));
        let want = scalar::signed_sum(&bits, &u);
        let scale: f64 = u.iter().map(|&x| (x as f64).abs()).sum::<f64>() + 1.0;
        for got in [Some(kernels::signed_sum(&bits, &u)), Some(kernels::signed_sum_portable(&bits, &u)), kernels::signed_sum_avx2(&bits, &u)].into_iter().flatten() {
            prop_assert!((got as f64 - want).abs() <= 1e-5 * scale, "{got} vs {want}");
        }
    }

    #[test]
    fn plane_dot4_matches_the_reference(nbytes in 1usize..100, seed: u64) {
        let mut rng = Rng::new(seed);
        let code = bytes(&mut rng, nbytes);
        // Planes only have bits where the code has dimensions, as a query's do.
        let valid = |w: usize| if (w + 1) * 64 <= nbytes * 8 { u64::MAX } else { (1u64 << (nbytes * 8 - w * 64)) - 1 };
        let p: Vec<[u64; 4]> = (0..nbytes.div_ceil(8)).map(|w| [(); 4].map(|_| rng.next_u64() & valid(w))).collect();
        let want = scalar::plane_dot4(&code, &p);
        prop_assert_eq!(kernels::plane_dot4(&code, &p), want);
        prop_assert_eq!(kernels::plane_dot4_portable(&code, &p), want);
        prop_assert!(kernels::plane_dot4_avx2(&code, &p).is_none_or(|got| got == want));
    }

    #[test]
    fn fwht_matches_the_definition(log_n in 0u32..8, seed: u64) {
        let mut rng = Rng::new(seed);
        let x = rng.gaussian(1 << log_n);
        let want = scalar::fwht(&x);
        let scale = (x.len() as f64).sqrt() * 1e-5;
        let run = |f: fn(&mut [f32])| {
            let mut y = x.clone();
            f(&mut y);
            y
        };
        let mut builds = vec![run(kernels::fwht), run(kernels::fwht_portable)];
        let mut y = x.clone();
        if kernels::fwht_avx2(&mut y).is_some() {
            builds.push(y);
        }
        for got in builds {
            for (g, w) in got.iter().zip(&want) {
                prop_assert!((*g as f64 - w).abs() <= scale * (1.0 + w.abs()), "{g} vs {w}");
            }
        }
    }

    #[test]
    fn hamming_matches_the_reference(n in 0usize..100, seed: u64) {
        let mut rng = Rng::new(seed);
        let (a, b) = (bytes(&mut rng, n), bytes(&mut rng, n));
        let want = scalar::hamming(&a, &b);
        prop_assert_eq!(kernels::hamming(&a, &b), want);
        prop_assert_eq!(kernels::hamming_portable(&a, &b), want);
        prop_assert!(kernels::hamming_avx2(&a, &b).is_none_or(|got| got == want));
    }
}
