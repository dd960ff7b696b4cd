//! Every build of each kernel (dispatched, baseline) against the
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
        for got in [kernels::dot_f32_u8(&q, &c), kernels::dot_f32_u8_portable(&q, &c)] {
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
    }

    #[test]
    fn signed_sum_matches_the_reference(n in 1usize..300, seed: u64) {
        let mut rng = Rng::new(seed);
        let (bits, u) = (bytes(&mut rng, n.div_ceil(8)), rng.gaussian(n));
        let want = scalar::signed_sum(&bits, &u);
        let scale: f64 = u.iter().map(|&x| (x as f64).abs()).sum::<f64>() + 1.0;
        for got in [kernels::signed_sum(&bits, &u), kernels::signed_sum_portable(&bits, &u)] {
            prop_assert!((got as f64 - want).abs() <= 1e-5 * scale, "{got} vs {want}");
        }
    }

    #[test]
    fn plane_dot_matches_the_reference(nbytes in 1usize..100, planes in 1usize..6, seed: u64) {
        let mut rng = Rng::new(seed);
        let code = bytes(&mut rng, nbytes);
        let words = nbytes.div_ceil(8);
        // Planes only have bits where the code has dimensions, as a query's do.
        let valid = |w: usize| if (w + 1) * 64 <= nbytes * 8 { u64::MAX } else { (1u64 << (nbytes * 8 - w * 64)) - 1 };
        let p: Vec<u64> = (0..words * planes).map(|i| rng.next_u64() & valid(i / planes)).collect();
        let want = scalar::plane_dot(&code, &p, planes);
        prop_assert_eq!(kernels::plane_dot(&code, &p, planes), want);
        prop_assert_eq!(kernels::plane_dot_portable(&code, &p, planes), want);
    }

    #[test]
    fn hamming_matches_the_reference(n in 0usize..100, seed: u64) {
        let mut rng = Rng::new(seed);
        let (a, b) = (bytes(&mut rng, n), bytes(&mut rng, n));
        let want = scalar::hamming(&a, &b);
        prop_assert_eq!(kernels::hamming(&a, &b), want);
        prop_assert_eq!(kernels::hamming_portable(&a, &b), want);
    }
}
