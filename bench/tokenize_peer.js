#!/usr/bin/env node
// The peers of bench/tokenize_bench.sh: encodes every document of a JSONL file ({"text": ...}
// a line) with one of them, one document at a time on one thread, and prints one line of
// key=value: the text's UTF-8 bytes, documents, tokens, the seconds spent encoding (wall clock
// and process CPU time around the encode loop only: node's start, the file's reading and
// parsing and the tokenizer's loading are left out) and a checksum of every id in order.
//
//   node tokenize_peer.js tiktoken-native ENCODING DOCS.jsonl   npm tiktoken-rs-node-linux-x64-gnu
//   node tokenize_peer.js tiktoken-wasm ENCODING DOCS.jsonl     npm tiktoken, encode_ordinary
//   node tokenize_peer.js hf TOKENIZER.json DOCS.jsonl          npm tokenizers, no special tokens added
//   node tokenize_peer.js checksum RAW TOKEN_BYTES              the same checksum over llm-cat --to=raw
//
// The native tiktoken build has only encode(), which turns special-token strings into their
// ids; the bench text holds none, and the checksum would tell. Hugging Face's binding runs
// encode() on its own thread pool: awaiting each call, with RAYON_NUM_THREADS=1 and
// TOKENIZERS_PARALLELISM=false in the environment, keeps it to one thread at a time (the
// cpu/wall ratio printed shows it). LLM_DATA names the npm prefix (default data/npm).
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const modules = path.join(path.resolve(root, process.env.LLM_DATA || 'data/npm'), 'node_modules');

function readDocs(file) {
    return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l).text);
}

// FNV-1a over 32-bit ids, in order: equal for two encoders only when their id sequences are.
function checksum(h, ids) {
    for (let i = 0; i < ids.length; i++) h = Math.imul(h ^ ids[i], 16777619) >>> 0;
    return h;
}

const FNV_BASIS = 2166136261;

// An encode function (text -> ids, maybe a promise) for the peer, loaded outside the timing.
function loadPeer(kind, name) {
    if (kind === 'tiktoken-native') {
        const { getEncoding } = require(path.join(modules, 'tiktoken-rs-node-linux-x64-gnu'));
        const enc = getEncoding(name);
        return (text) => enc.encode(text);
    }
    if (kind === 'tiktoken-wasm') {
        const { get_encoding } = require(path.join(modules, 'tiktoken'));
        const enc = get_encoding(name);
        return (text) => enc.encode_ordinary(text);
    }
    if (kind === 'hf') {
        const { Tokenizer } = require(path.join(modules, 'tokenizers'));
        const tk = Tokenizer.fromFile(name);
        return async (text) => (await tk.encode(text, null, { addSpecialTokens: false })).getIds();
    }
    throw new Error(`unknown peer ${kind}`);
}

async function bench(kind, name, file) {
    const encode = loadPeer(kind, name);
    const docs = readDocs(file);
    const bytes = docs.reduce((n, d) => n + Buffer.byteLength(d, 'utf8'), 0);
    const results = new Array(docs.length);
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < docs.length; i++) results[i] = await encode(docs[i]);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    let tokens = 0, h = FNV_BASIS;
    for (const ids of results) {
        tokens += ids.length;
        h = checksum(h, ids);
    }
    console.log(`bytes=${bytes} docs=${docs.length} tokens=${tokens} seconds=${secs.toFixed(4)} ` +
        `cpu=${((cpu.user + cpu.system) / 1e6).toFixed(4)} checksum=${h.toString(16)}`);
}

function rawChecksum(file, width) {
    const buf = fs.readFileSync(file);
    const copy = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length);   /* aligned */
    const ids = width === 2 ? new Uint16Array(copy) : new Uint32Array(copy);
    console.log(`tokens=${ids.length} checksum=${checksum(FNV_BASIS, ids).toString(16)}`);
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'checksum' && args.length === 2 && (args[1] === '2' || args[1] === '4')) {
    rawChecksum(args[0], Number(args[1]));
} else if (['tiktoken-native', 'tiktoken-wasm', 'hf'].includes(mode) && args.length === 2) {
    bench(mode, args[0], args[1]).catch((e) => {
        process.stderr.write(`tokenize_peer.js: ${e.stack || e}\n`);
        process.exit(1);
    });
} else {
    process.stderr.write('usage: tokenize_peer.js tiktoken-native|tiktoken-wasm ENCODING DOCS.jsonl | ' +
        'hf TOKENIZER.json DOCS.jsonl | checksum RAW 2|4\n');
    process.exit(2);
}
