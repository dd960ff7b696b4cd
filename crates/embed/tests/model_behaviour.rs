//! The default model against the numpy reference, and the embedder's batching, truncation and
//! chunking on the real tokenizer. Needs scripts/models/setup_models.sh to have run.

mod common;

use common::*;
use semvec_embed::{cosine, Embedder, EmbedderConfig, Pooling};

#[test]
fn embeddings_match_the_numpy_reference_for_every_fixture_sentence() {
    let e = embedder();
    let got = e.embed_batch(&texts()).unwrap();
    let mut worst = (1.0f64, 0usize);
    for (i, (s, v)) in fixture().iter().zip(&got).enumerate() {
        assert_eq!(v.len(), 384);
        let c = cosine(&s.embedding, v);
        if c < worst.0 {
            worst = (c, i);
        }
        assert!(c >= 0.99, "sentence {i} {:?}: cosine {c}", s.text);
    }
    eprintln!("fp32: worst cosine to reference {:.7} (sentence {})", worst.0, worst.1);
    // fp32 ONNX vs float64 numpy differ only by rounding.
    assert!(worst.0 > 0.9999, "fp32 drifted from the reference: {worst:?}");
}

#[test]
fn top5_neighbours_match_the_reference() {
    let got = embedder().embed_batch(&texts()).unwrap();
    for (i, s) in fixture().iter().enumerate() {
        assert_eq!(top_k(&got, i, 5), s.top5, "neighbours of sentence {i} {:?}", s.text);
    }
}

#[test]
fn tokenization_matches_python_tokenizers_including_truncation() {
    let e = embedder();
    for s in fixture() {
        assert_eq!(e.tokenize(&s.text).unwrap(), s.input_ids, "token ids of {:?}", s.text);
        assert_eq!(e.count_tokens(&s.text).unwrap(), s.token_count, "token count of {:?}", s.text);
    }
}

#[test]
fn batch_results_equal_single_results_whatever_the_batch_composition() {
    let e = embedder();
    let texts = texts();
    let singles: Vec<Vec<f32>> = texts.iter().map(|t| e.embed(t).unwrap()).collect();
    let check = |batch: &[&str], got: Vec<Vec<f32>>, label: &str| {
        for (t, v) in batch.iter().zip(got) {
            let i = texts.iter().position(|x| x == t).unwrap();
            let d = max_abs_diff(&singles[i], &v);
            assert!(d <= 1e-5, "{label}: sentence {i} differs by {d}");
        }
    };
    // all at once (split into sub-batches internally), reversed, and short texts padded next to a long one
    check(&texts, e.embed_batch(&texts).unwrap(), "whole fixture");
    let reversed: Vec<&str> = texts.iter().rev().copied().collect();
    check(&reversed, e.embed_batch(&reversed).unwrap(), "reversed");
    let long = fixture().iter().find(|s| s.truncated).unwrap().text.as_str();
    for group in texts.chunks(5) {
        let mut batch: Vec<&str> = group.to_vec();
        batch.push(long);
        check(&batch, e.embed_batch(&batch).unwrap(), "padded next to a 256-token text");
    }
}

#[test]
fn texts_longer_than_256_tokens_are_truncated_to_256() {
    let e = embedder();
    let long = fixture().iter().find(|s| s.truncated).unwrap();
    assert!(long.token_count > 256);
    assert_eq!(e.tokenize(&long.text).unwrap().len(), 256);
    // What comes after the first 254 word pieces cannot change the vector...
    let extended = format!("{} And then a whole new paragraph about something else entirely.", long.text);
    let d = max_abs_diff(&e.embed(&long.text).unwrap(), &e.embed(&extended).unwrap());
    assert!(d <= 1e-6, "text past the truncation point changed the vector by {d}");
    // ...while the first part does.
    let head: String = long.text.split_whitespace().take(40).collect::<Vec<_>>().join(" ");
    assert!(max_abs_diff(&e.embed(&long.text).unwrap(), &e.embed(&head).unwrap()) > 1e-3);
}

#[test]
fn max_tokens_setting_overrides_the_tokenizer_files_fixed_128() {
    common::runtime();
    let mut cfg = EmbedderConfig::from_dir(model_dir());
    cfg.max_tokens = 16;
    let short = Embedder::load(cfg).unwrap();
    let long = fixture().iter().find(|s| s.truncated).unwrap();
    assert_eq!(short.tokenize(&long.text).unwrap().len(), 16);
    // no padding to 128 either
    assert_eq!(embedder().tokenize("hello world").unwrap(), vec![101, 7592, 2088, 102]);
}

#[test]
fn empty_and_whitespace_texts_embed_as_cls_sep_without_error() {
    let e = embedder();
    assert_eq!(e.tokenize("").unwrap(), vec![101, 102]);
    assert_eq!(e.count_tokens("   \n\t").unwrap(), 0);
    let v = e.embed_batch(&["", "   \n\t", "\u{0}", "\u{feff}"]).unwrap();
    for x in &v {
        let norm: f32 = x.iter().map(|a| a * a).sum::<f32>().sqrt();
        assert!(x.iter().all(|a| a.is_finite()) && (norm - 1.0).abs() < 1e-5);
    }
    assert!(max_abs_diff(&v[0], &v[1]) < 1e-6);
}

#[test]
fn an_empty_batch_is_an_error() {
    let err = embedder().embed_batch(&[]).unwrap_err();
    assert_eq!(err.to_string(), "cannot embed an empty batch of texts");
    assert_eq!(err.sqlstate(), "22023");
}

#[test]
fn unusual_inputs_never_panic() {
    let e = embedder();
    let huge_word = "x".repeat(100_000);
    let mixed = "🚀".repeat(3000) + &"日本語".repeat(500);
    let control: String = (0u8..32).map(char::from).collect();
    for t in [
        huge_word.as_str(),
        mixed.as_str(),
        control.as_str(),
        "[CLS] [SEP] [PAD] [MASK] [UNK]",
    ] {
        let v = e.embed(t).unwrap();
        assert_eq!(v.len(), 384);
        e.count_tokens(t).unwrap();
        e.chunk_text(t, 32, 8).unwrap();
    }
}

#[test]
fn two_intra_op_threads_give_the_same_vectors_as_one() {
    common::runtime();
    let mut cfg = EmbedderConfig::from_dir(model_dir());
    cfg.intra_threads = 2;
    let two = Embedder::load(cfg).unwrap();
    let texts = texts();
    let a = embedder().embed_batch(&texts).unwrap();
    let b = two.embed_batch(&texts).unwrap();
    for (x, y) in a.iter().zip(&b) {
        assert!(max_abs_diff(x, y) <= 1e-5);
    }
}

#[test]
fn one_embedder_serves_several_threads() {
    let e = embedder();
    let texts = texts();
    let expected = e.embed_batch(&texts[..8]).unwrap();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..3).map(|_| s.spawn(|| e.embed_batch(&texts[..8]).unwrap())).collect();
        for h in handles {
            for (x, y) in h.join().unwrap().iter().zip(&expected) {
                assert!(max_abs_diff(x, y) <= 1e-5);
            }
        }
    });
}

#[test]
fn a_graph_without_pooling_is_mean_pooled_in_rust() {
    common::runtime();
    let hidden = Embedder::load(EmbedderConfig::from_dir(hidden_model_dir())).unwrap();
    assert_eq!(hidden.dim(), 384);
    let texts = texts();
    let got = hidden.embed_batch(&texts).unwrap();
    let pooled_in_graph = embedder().embed_batch(&texts).unwrap();
    for (i, (a, b)) in got.iter().zip(&pooled_in_graph).enumerate() {
        assert!(max_abs_diff(a, b) <= 1e-5, "sentence {i}");
    }
    // CLS pooling is a different vector, still normalized.
    let mut cfg = EmbedderConfig::from_dir(hidden_model_dir());
    cfg.pooling = Pooling::Cls;
    let cls = Embedder::load(cfg).unwrap().embed("A cat is sleeping.").unwrap();
    let mean = hidden.embed("A cat is sleeping.").unwrap();
    assert!(max_abs_diff(&cls, &mean) > 1e-3);
    assert!((cls.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
}

#[test]
fn int8_model_keeps_cosine_099_to_the_reference() {
    common::runtime();
    let int8 = Embedder::load(EmbedderConfig::from_dir(int8_model_dir())).unwrap();
    let got = int8.embed_batch(&texts()).unwrap();
    let worst = fixture().iter().zip(&got).map(|(s, v)| cosine(&s.embedding, v)).fold(1.0, f64::min);
    eprintln!("int8: worst cosine to reference {worst:.5}");
    assert!(worst >= 0.99, "int8 worst cosine {worst}");
}

// --- chunk_text on the real tokenizer ---------------------------------------------------------

fn long_document() -> String {
    fixture()
        .iter()
        .filter(|s| s.truncated)
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The long prose texts (not the repetitive one, whose repeats make overlaps ambiguous).
fn prose_document() -> String {
    fixture()
        .iter()
        .filter(|s| s.truncated && s.text.contains(". "))
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[test]
fn chunks_fit_the_token_budget_and_keep_text_order() {
    let e = embedder();
    let doc = long_document();
    for (max, overlap) in [(32, 0), (64, 16), (128, 32), (200, 50), (256, 0)] {
        let chunks = e.chunk_text(&doc, max, overlap).unwrap();
        assert!(chunks.len() >= doc.len() / (max * 8), "too few chunks for {max}");
        let mut pos = 0;
        for c in &chunks {
            let n = e.count_tokens(c).unwrap();
            assert!(n <= max && n > 0, "chunk of {n} tokens for max {max}: {c:?}");
            let at = doc[pos..].find(c.as_str()).map(|p| p + pos);
            let at = at.unwrap_or_else(|| panic!("chunk out of order or altered: {c:?}"));
            // with overlap the next chunk may start before the previous one ended
            pos = at + 1;
        }
        // the chunks reach the end of the document
        assert!(doc.trim_end().ends_with(chunks.last().unwrap().as_str()));
    }
}

#[test]
fn chunks_without_overlap_cover_the_whole_text() {
    let e = embedder();
    let doc = long_document();
    let chunks = e.chunk_text(&doc, 50, 0).unwrap();
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let glued: Vec<String> = chunks.iter().flat_map(|c| words(c)).collect();
    assert_eq!(glued, words(&doc));
}

#[test]
fn consecutive_chunks_overlap_by_about_the_requested_tokens() {
    let e = embedder();
    let doc = prose_document();
    let chunks = e.chunk_text(&doc, 64, 16).unwrap();
    for pair in chunks.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let shared = (1..=a.len().min(b.len()))
            .rev()
            .find(|&k| a.is_char_boundary(a.len() - k) && b.is_char_boundary(k) && a[a.len() - k..] == b[..k])
            .map(|k| e.count_tokens(&b[..k]).unwrap())
            .unwrap_or(0);
        assert!((8..=16).contains(&shared), "overlap of {shared} tokens between\n{a:?}\n{b:?}");
    }
}

#[test]
fn chunks_end_at_sentence_boundaries_when_one_is_near() {
    let e = embedder();
    // every window of 50..100 tokens of the prose holds a sentence end
    let doc = prose_document();
    let chunks = e.chunk_text(&doc, 100, 0).unwrap();
    let at_sentence_end = chunks[..chunks.len() - 1]
        .iter()
        .filter(|c| c.ends_with('.') || c.ends_with('?') || c.ends_with('!'))
        .count();
    assert_eq!(at_sentence_end, chunks.len() - 1, "{chunks:#?}");
}

#[test]
fn chunking_short_or_empty_text() {
    let e = embedder();
    assert_eq!(
        e.chunk_text("  Just one sentence.  ", 32, 4).unwrap(),
        vec!["Just one sentence.".to_string()]
    );
    assert!(e.chunk_text("", 32, 4).unwrap().is_empty());
    assert!(e.chunk_text("a b", 4, 4).is_err());
    let cjk = "東京は日本の首都です。大阪は食べ物で有名です。京都には古いお寺がたくさんあります。".repeat(4);
    for c in e.chunk_text(&cjk, 10, 3).unwrap() {
        assert!(e.count_tokens(&c).unwrap() <= 10);
    }
}
