"""Tokenizers trained on the caption grammar and the tiny CLIP / T5 text encoders (random init, frozen).

CLIP: byte-level BPE in openai CLIP's layout (256 byte symbols, the same with '</w>', one symbol per merge, then
<|startoftext|>, <|endoftext|>), merges learned on the grammar's words until every word is one symbol; written
with the fixtures' writer (vocab.json + merges.txt + configs). T5: a sentencepiece Unigram (nmt_nfkc, pad 0,
</s> 1, <unk> 2) trained on the caption list, converted to tokenizer.json exactly as the fixtures do.
"""
import collections
import io
import re
import sys
from pathlib import Path

import torch
from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "fixtures"))
from tokenizers_build import CLIP_BOS, CLIP_EOS, bytes_to_unicode, write_clip_tokenizer, write_t5_tokenizer  # noqa

import scenes  # noqa: E402

T5_MAX_SEQUENCE_LENGTH = 32     # the pipeline's max_sequence_length this model is trained and run with
TEXT_DIM = 64                   # T5 d_model = joint_attention_dim; CLIP hidden = pooled_projection_dim


def corpus():
    prompts = scenes.all_prompts()
    return [p for c in scenes.CATEGORIES for p in prompts[c]]


def learn_clip_bpe(sentences):
    """Greedy BPE over the grammar's words (CLIP's word split: lower-case, letters runs), '</w>' on the last
    symbol. Ties broken by the pair's text so the result is deterministic."""
    b2u = bytes_to_unicode()
    words = collections.Counter(w for s in sentences for w in re.findall(r"[a-z]+", s.lower()))
    segs = {w: tuple(b2u[b] for b in w.encode()[:-1]) + (b2u[w.encode()[-1]] + "</w>",) for w in words}
    merges = []
    while True:
        pairs = collections.Counter()
        for w, seg in segs.items():
            for a, b in zip(seg, seg[1:]):
                pairs[(a, b)] += words[w]
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        for w, seg in segs.items():
            out, i = [], 0
            while i < len(seg):
                if i + 1 < len(seg) and (seg[i], seg[i + 1]) == best:
                    out.append(seg[i] + seg[i + 1])
                    i += 2
                else:
                    out.append(seg[i])
                    i += 1
            segs[w] = tuple(out)
    symbols = list(b2u.values())
    symbols += [s + "</w>" for s in symbols]
    seen = set(symbols)
    for a, b in merges:
        if a + b not in seen:
            symbols.append(a + b)
            seen.add(a + b)
    symbols += [CLIP_BOS, CLIP_EOS]
    return {s: i for i, s in enumerate(symbols)}, merges


def train_t5_spm(sentences, vocab_size=96):
    import sentencepiece as spm
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=model, vocab_size=vocab_size, hard_vocab_limit=False,
        model_type="unigram", normalization_rule_name="nmt_nfkc", character_coverage=1.0,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>",
        num_threads=1, shuffle_input_sentence=False, input_sentence_size=0, minloglevel=2, seed_sentencepiece_size=100000,
    )
    return model.getvalue()


def build_tokenizers(root):
    sentences = corpus()
    vocab, merges = learn_clip_bpe(sentences)
    write_clip_tokenizer(root / "tokenizer", vocab, merges)
    t5_size = write_t5_tokenizer(root / "tokenizer_2", train_t5_spm(sentences))
    # the model is trained with this T5 length; record it where a loader can read it
    import json
    cfg_path = root / "tokenizer_2" / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["model_max_length"] = T5_MAX_SEQUENCE_LENGTH
    cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")
    return len(vocab), t5_size


def build_text_encoders(clip_vocab, t5_vocab, seed=3000):
    torch.manual_seed(seed)
    clip = CLIPTextModel(CLIPTextConfig(
        vocab_size=clip_vocab, hidden_size=TEXT_DIM, intermediate_size=2 * TEXT_DIM, projection_dim=TEXT_DIM,
        num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=77, hidden_act="quick_gelu",
        layer_norm_eps=1e-5, attention_dropout=0.0, bos_token_id=0, eos_token_id=2, pad_token_id=1)).eval()
    torch.manual_seed(seed + 1)
    rows = (t5_vocab + 15) // 16 * 16
    t5 = T5EncoderModel(T5Config(
        vocab_size=rows, d_model=TEXT_DIM, d_kv=16, d_ff=2 * TEXT_DIM, num_layers=2, num_heads=4,
        relative_attention_num_buckets=32, relative_attention_max_distance=128, dropout_rate=0.0,
        layer_norm_epsilon=1e-6, feed_forward_proj="gated-gelu", is_encoder_decoder=False, use_cache=False,
        tie_word_embeddings=False, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)).eval()
    return clip, t5
