/* Unit tests for clean/quality.c: each Gopher and C4 rule with a document that passes and
 * one that fails it by name, the boundaries, Chinese and Japanese text, C4's exact output,
 * large documents in linear time, and the fast paths (the 64-byte block word scanner, SSE2,
 * the stop-word hash) against their plain references on random text. The source is included
 * so that those static helpers can be reached; its public functions then come from here
 * rather than from libclean.a. */
#define _POSIX_C_SOURCE 200809L
#include "../../clean/quality.c"

#include <string.h>
#include <time.h>

#include "check.h"

static const char *rule_name(const char *r)
{
    return r ? r : "(kept)";
}

static int same_rule(const char *got, const char *want)
{
    return got == want || (got && want && strcmp(got, want) == 0);
}

static void check_gopher(int line, const char *text, const char *want)
{
    const char *got = clean_quality_gopher(text, strlen(text));
    CHECKF(same_rule(got, want), "line %d: got %s, want %s", line, rule_name(got), rule_name(want));
}

#define GOPHER_IS(text, want) check_gopher(__LINE__, (text), (want))

/* Original English prose: three paragraphs, 124 words, no token that is only punctuation. */
static const char PROSE[] =
    "The old lighthouse stood at the edge of the harbor for more than a century. Fishermen who "
    "returned late in the evening looked for its steady beam, and children from the village liked "
    "to count the seconds between each turn of the light.\n"
    "\n"
    "When the keeper retired, the town council debated whether to sell the building. Some "
    "residents wanted a small museum about the history of the coast, while others hoped that a "
    "cafe would bring visitors during the quiet winter months.\n"
    "\n"
    "In the end, the council chose to restore the tower and open it to the public on weekends. "
    "Volunteers repaired the stairs, cleaned the lens, and painted the walls with the same white "
    "and red stripes that sailors had known for generations.";

static size_t count_tokens(const char *s)
{
    size_t n = 0;
    for (size_t i = 0; s[i]; i++)
        if (s[i] != ' ' && s[i] != '\n' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\n'))
            n++;
    return n;
}

/* The first `words` tokens of s, as a NUL-terminated string in b. */
static const char *first_words(llm_buf *b, const char *s, size_t words)
{
    size_t i = 0, seen = 0;
    for (; s[i]; i++) {
        if (s[i] != ' ' && s[i] != '\n' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\n') && seen++ == words)
            break;
    }
    while (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\n'))
        i--;
    llm_buf_clear(b);
    llm_buf_append(b, s, i);
    llm_buf_putc(b, '\0');
    return b->data;
}

/* Appends made-up word number i, len letters, consonants and vowels in turn: distinct for
 * distinct i (below 20^ceil(len/2) * 5^floor(len/2)), never one of the stop words. */
static void put_word(llm_buf *b, unsigned long i, int len)
{
    static const char cons[] = "bcdfghjklmnpqrstvwxz", vows[] = "aeiou";
    for (int p = 0; p < len; p++) {
        if (p % 2 == 0) {
            llm_buf_putc(b, cons[i % 20]);
            i /= 20;
        } else {
            llm_buf_putc(b, vows[i % 5]);
            i /= 5;
        }
    }
}

/* Appends a line of `words` fresh made-up words of len letters, then '\n'. */
static void put_line(llm_buf *b, unsigned long *next, size_t words, int len)
{
    for (size_t k = 0; k < words; k++) {
        if (k)
            llm_buf_putc(b, ' ');
        put_word(b, (*next)++, len);
    }
    llm_buf_putc(b, '\n');
}

/* Ends the text without trailing newlines or spaces, NUL-terminated. */
static const char *finish(llm_buf *b)
{
    while (b->len && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == ' '))
        b->len--;
    llm_buf_putc(b, '\0');
    b->len--;
    return b->data;
}

/* ---- Gopher: the quality rules ---- */

static void test_gopher_prose_passes(void)
{
    CHECK(count_tokens(PROSE) == 124);
    GOPHER_IS(PROSE, NULL);
}

static void test_gopher_word_count(void)
{
    llm_buf b;
    llm_buf_init(&b);
    GOPHER_IS(first_words(&b, PROSE, 50), NULL);
    GOPHER_IS(first_words(&b, PROSE, 49), "gopher-word-count");
    GOPHER_IS("", "gopher-word-count");
    /* Punctuation-only tokens are no words: 49 words and a dash stay 49. */
    llm_buf more;
    llm_buf_init(&more);
    llm_buf_puts(&more, first_words(&b, PROSE, 49));
    llm_buf_puts(&more, " -- !");
    GOPHER_IS(more.data, "gopher-word-count");
    llm_buf_free(&more);
    llm_buf_free(&b);
}

static void test_gopher_too_many_words(void)
{
    llm_buf b;
    llm_buf_init(&b);
    unsigned long next = 0;
    llm_buf_puts(&b, "the start of the text\n");
    while (next < 100000 - 5)
        put_line(&b, &next, 5, 6);
    GOPHER_IS(finish(&b), NULL);   /* exactly 100000 words */
    llm_buf_puts(&b, " one");
    GOPHER_IS(b.data, "gopher-word-count");
    llm_buf_free(&b);
}

static void test_gopher_mean_word_length(void)
{
    llm_buf b;
    llm_buf_init(&b);
    unsigned long next = 0;
    /* 50 words of 3 letters: mean exactly 3 passes; one word a letter short fails. */
    llm_buf_puts(&b, "the and\n");
    for (int i = 0; i < 6; i++)
        put_line(&b, &next, 8, 3);
    GOPHER_IS(finish(&b), NULL);
    llm_buf_clear(&b);
    next = 0;
    llm_buf_puts(&b, "the and zu\n");
    for (int i = 0; i < 6; i++)
        put_line(&b, &next, 8, 3);
    finish(&b);
    b.len -= 4;   /* drop the last word and its space: 50 words, 149 letters */
    b.data[b.len] = '\0';
    GOPHER_IS(b.data, "gopher-mean-word-length");

    /* Mean exactly 10 passes, 10.02 fails. */
    llm_buf_clear(&b);
    next = 0;
    llm_buf_puts(&b, "the and ");
    put_word(&b, next++, 17);
    llm_buf_putc(&b, ' ');
    put_word(&b, next++, 17);
    llm_buf_putc(&b, '\n');
    for (int i = 0; i < 46; i++) {
        put_word(&b, next++, 10);
        llm_buf_putc(&b, i % 8 == 7 ? '\n' : ' ');
    }
    GOPHER_IS(finish(&b), NULL);
    llm_buf_puts(&b, "x");   /* the last word gets an eleventh letter */
    GOPHER_IS(b.data, "gopher-mean-word-length");
    llm_buf_free(&b);
}

static void test_gopher_symbol_ratio(void)
{
    llm_buf b;
    llm_buf_init(&b);
    /* 124 words: 12 '#' are under a tenth, 13 over. */
    llm_buf_puts(&b, PROSE);
    for (int i = 0; i < 12; i++)
        llm_buf_puts(&b, " #");
    GOPHER_IS(b.data, NULL);
    llm_buf_puts(&b, " #");
    GOPHER_IS(b.data, "gopher-symbol-ratio");
    /* Ellipses likewise, "..." and "…" alike; "……" is one. */
    llm_buf_clear(&b);
    for (int i = 0; i < 6; i++)
        llm_buf_puts(&b, "... …… ");
    llm_buf_puts(&b, PROSE);
    GOPHER_IS(b.data, NULL);
    llm_buf_clear(&b);
    llm_buf_puts(&b, "… ");
    for (int i = 0; i < 6; i++)
        llm_buf_puts(&b, "... …… ");
    llm_buf_puts(&b, PROSE);
    GOPHER_IS(b.data, "gopher-symbol-ratio");
    llm_buf_free(&b);
}

/* Ten lines of eight words, the first `marked` of them with prefix or suffix. */
static const char *marked_lines(llm_buf *b, int marked, const char *prefix, const char *suffix)
{
    unsigned long next = 0;
    llm_buf_clear(b);
    for (int i = 0; i < 10; i++) {
        if (i < marked)
            llm_buf_puts(b, prefix);
        llm_buf_puts(b, i == 0 ? "the start of the text " : "");
        put_line(b, &next, 8, 5);
        if (i < marked) {
            b->len--;
            llm_buf_puts(b, suffix);
            llm_buf_putc(b, '\n');
        }
    }
    return finish(b);
}

static void test_gopher_bullet_lines(void)
{
    llm_buf b;
    llm_buf_init(&b);
    GOPHER_IS(marked_lines(&b, 9, "• ", ""), NULL);
    GOPHER_IS(marked_lines(&b, 10, "• ", ""), "gopher-bullet-lines");
    GOPHER_IS(marked_lines(&b, 10, "- ", ""), "gopher-bullet-lines");
    GOPHER_IS(marked_lines(&b, 10, "* ", ""), "gopher-bullet-lines");
    GOPHER_IS(marked_lines(&b, 10, "・", ""), "gopher-bullet-lines");
    GOPHER_IS(marked_lines(&b, 10, "1. ", ""), NULL);
    llm_buf_free(&b);
}

static void test_gopher_ellipsis_lines(void)
{
    llm_buf b;
    llm_buf_init(&b);
    GOPHER_IS(marked_lines(&b, 3, "", "..."), NULL);
    GOPHER_IS(marked_lines(&b, 4, "", "..."), "gopher-ellipsis-lines");
    GOPHER_IS(marked_lines(&b, 4, "", "…"), "gopher-ellipsis-lines");
    GOPHER_IS(marked_lines(&b, 4, "", "."), NULL);
    llm_buf_free(&b);
}

static void test_gopher_alpha_words(void)
{
    llm_buf b;
    llm_buf_init(&b);
    /* 124 words with letters; numbers are words without: with 31, exactly 80% have letters,
     * which passes; with 32, 79.5%. */
    llm_buf_puts(&b, PROSE);
    for (int i = 0; i < 31; i++)
        llm_buf_printf(&b, " %d", 1900 + i);
    GOPHER_IS(b.data, NULL);
    llm_buf_puts(&b, " 2024");
    GOPHER_IS(b.data, "gopher-alpha-words");
    /* A word with any letter counts, in any script: 127 of 158. */
    b.len -= 5;
    llm_buf_puts(&b, " 3rd B52 Ωmega");
    GOPHER_IS(b.data, NULL);
    llm_buf_free(&b);
}

static void test_gopher_stop_words(void)
{
    llm_buf b;
    llm_buf_init(&b);
    unsigned long next = 0;
    llm_buf_puts(&b, "the ");
    for (int i = 0; i < 7; i++)
        put_line(&b, &next, 8, 5);
    GOPHER_IS(finish(&b), "gopher-stop-words");
    llm_buf_puts(&b, " of.");   /* punctuation around a word does not hide it */
    GOPHER_IS(b.data, NULL);
    /* Capitals do not count, as in datatrove. */
    llm_buf_clear(&b);
    next = 0;
    llm_buf_puts(&b, "The OF ");
    for (int i = 0; i < 7; i++)
        put_line(&b, &next, 8, 5);
    GOPHER_IS(finish(&b), "gopher-stop-words");
    llm_buf_free(&b);
}

/* Non-Latin space-separated text: English stop words are not asked for; word length is. */
static void test_gopher_russian(void)
{
    static const char ru[] =
        "Старый маяк стоял на краю гавани больше века. Рыбаки, которые возвращались поздно "
        "вечером, искали его ровный луч, а дети из деревни любили считать секунды между "
        "поворотами света.\n\n"
        "Когда смотритель ушёл на пенсию, городской совет долго спорил, стоит ли продавать "
        "здание. Одни жители хотели открыть небольшой музей об истории побережья, другие "
        "надеялись, что кафе привлечёт гостей в тихие зимние месяцы. В конце концов совет "
        "решил восстановить башню и открыть её для всех по выходным.";
    GOPHER_IS(ru, NULL);
}

/* ---- Gopher: the repetition rules ---- */

/* A paragraph of `lines` lines of 8 fresh words, then a blank line. */
static void put_paragraph(llm_buf *b, unsigned long *next, int lines)
{
    for (int i = 0; i < lines; i++)
        put_line(b, next, 8, 5);
    llm_buf_putc(b, '\n');
}

static void test_gopher_dup_paragraphs(void)
{
    llm_buf b;
    llm_buf_init(&b);
    unsigned long next = 0;
    llm_buf_puts(&b, "the start of the text\n\n");
    for (int i = 0; i < 4; i++) {
        put_paragraph(&b, &next, 3);
        if (i != 1)
            llm_buf_puts(&b, "see the notes below\n\n");
    }
    /* 8 paragraphs, 2 repeats: 25% */
    GOPHER_IS(finish(&b), NULL);
    llm_buf_puts(&b, "\n\nsee the notes below");   /* 9, 3: 33% */
    GOPHER_IS(b.data, "gopher-dup-paragraphs");
    llm_buf_free(&b);
}

static void test_gopher_dup_paragraph_chars(void)
{
    llm_buf b, big;
    llm_buf_init(&b);
    llm_buf_init(&big);
    unsigned long next = 0;
    put_paragraph(&big, &next, 4);
    llm_buf_puts(&b, "the start of the text\n\n");
    llm_buf_append(&b, big.data, big.len);
    for (int i = 0; i < 2; i++)
        put_paragraph(&b, &next, 4);
    GOPHER_IS(finish(&b), NULL);
    llm_buf_puts(&b, "\n\n");
    llm_buf_append(&b, big.data, big.len);   /* 1 of 5 paragraphs, but a quarter of the text */
    GOPHER_IS(finish(&b), "gopher-dup-paragraph-chars");
    llm_buf_free(&b);
    llm_buf_free(&big);
}

static void test_gopher_dup_lines(void)
{
    llm_buf b;
    llm_buf_init(&b);
    unsigned long next = 0;
    llm_buf_puts(&b, "the start of the text\n");
    for (int i = 0; i < 6; i++) {
        put_line(&b, &next, 8, 5);
        if (i % 2)
            llm_buf_puts(&b, "see the notes\n");
    }
    /* 10 lines, 2 repeats; one more makes 3 of 11, and a fourth 4 of 12 */
    GOPHER_IS(finish(&b), NULL);
    llm_buf_puts(&b, "\nsee the notes");
    GOPHER_IS(finish(&b), NULL);
    llm_buf_puts(&b, "\nsee the notes");
    GOPHER_IS(finish(&b), "gopher-dup-lines");
    llm_buf_free(&b);
}

static void test_gopher_dup_line_chars(void)
{
    llm_buf b, big;
    llm_buf_init(&b);
    llm_buf_init(&big);
    unsigned long next = 0;
    put_line(&big, &next, 30, 6);
    llm_buf_puts(&b, "the start of the text\n");
    llm_buf_append(&b, big.data, big.len);
    for (int i = 0; i < 8; i++)
        put_line(&b, &next, 8, 5);
    GOPHER_IS(finish(&b), NULL);
    llm_buf_putc(&b, '\n');
    llm_buf_append(&b, big.data, big.len);   /* 1 line in 11, a quarter of the text */
    GOPHER_IS(finish(&b), "gopher-dup-line-chars");
    llm_buf_free(&b);
    llm_buf_free(&big);
}

static void test_gopher_top_ngram(void)
{
    llm_buf b;
    llm_buf_init(&b);
    unsigned long next = 0;
    /* "big dog" after every 6th word: 16 × 7 characters of about 630. */
    llm_buf_puts(&b, "the start of the text\n");
    for (int i = 0; i < 16; i++) {
        put_line(&b, &next, 6, 5);
        b.data[b.len - 1] = ' ';
        llm_buf_puts(&b, "big dog\n");
    }
    GOPHER_IS(finish(&b), NULL);
    /* After every 2nd word: 30 × 7 of about 600. */
    llm_buf_clear(&b);
    llm_buf_puts(&b, "the start of the text\n");
    for (int i = 0; i < 30; i++) {
        put_line(&b, &next, 2, 5);
        b.data[b.len - 1] = ' ';
        llm_buf_puts(&b, "big dog\n");
    }
    GOPHER_IS(finish(&b), "gopher-top-ngram");
    /* A frequent 3-gram whose 2-grams stay under 20%: "ox by" + a long word. */
    llm_buf_clear(&b);
    llm_buf_puts(&b, "the start of the text\n");
    for (int i = 0; i < 16; i++) {
        put_line(&b, &next, 3, 5);
        b.data[b.len - 1] = ' ';
        llm_buf_puts(&b, "ox by extraordinarily\n");
    }
    GOPHER_IS(finish(&b), "gopher-top-ngram");
    llm_buf_free(&b);
}

static void test_gopher_dup_ngram(void)
{
    llm_buf b;
    llm_buf_init(&b);
    unsigned long next = 0;
    static const char passage[] = " we went down to the river at dawn";   /* 8 words */
    llm_buf_puts(&b, "the start of the text\n");
    for (int i = 0; i < 12; i++) {
        put_line(&b, &next, 8, 5);
        if (i == 3 || i == 9) {
            b.len--;
            llm_buf_puts(&b, passage);
            llm_buf_putc(&b, '\n');
        }
    }
    GOPHER_IS(finish(&b), NULL);   /* one repeat: 26 of about 690 characters */
    llm_buf_clear(&b);
    next = 0;
    llm_buf_puts(&b, "the start of the text\n");
    for (int i = 0; i < 12; i++) {
        put_line(&b, &next, 8, 5);
        if (i % 2) {
            b.len--;
            llm_buf_puts(&b, passage);
            llm_buf_putc(&b, '\n');
        }
    }
    GOPHER_IS(finish(&b), "gopher-dup-ngram");   /* five repeats: 130 of about 880 */
    /* A repeated 4-gram is not a repeated 5-gram. */
    llm_buf_clear(&b);
    next = 0;
    llm_buf_puts(&b, "the start of the text\n");
    for (int i = 0; i < 12; i++) {
        put_line(&b, &next, 8, 5);
        if (i % 3 == 0) {
            b.len--;
            llm_buf_puts(&b, " down to the river\n");
        }
    }
    GOPHER_IS(finish(&b), NULL);
    llm_buf_free(&b);
}

/* ---- Gopher: Chinese and Japanese ---- */

/* Du Fu, "Jueju" (8th century): four lines of seven characters. */
static const char POEM[] = "两个黄鹂鸣翠柳，\n一行白鹭上青天。\n窗含西岭千秋雪，\n门泊东吴万里船。";

/* Original Chinese prose, 313 characters. */
static const char ZH_PROSE[] =
    "清晨的江边小镇还笼罩在薄雾之中，石板路被夜里的细雨打湿，泛着淡淡的光。早起的老人提着竹篮去"
    "集市买菜，卖豆浆的摊主一边招呼客人，一边把刚炸好的油条摆上案板。河面上偶尔有小船划过，船夫"
    "的号子声在水汽里传得很远。学校的钟声响起以后，孩子们背着书包从巷子里跑出来，笑声惊起了屋檐"
    "下的麻雀。到了中午，阳光终于穿透云层，照在青瓦白墙上，整个镇子仿佛一下子醒了过来。茶馆里坐"
    "满了喝茶聊天的人，有人谈论今年的收成，有人讲起远方亲戚的消息。傍晚时分，炊烟从各家的烟囱里"
    "升起，饭菜的香味飘满了街道。等到天色完全暗下来，河岸边的灯笼一盏接一盏亮起，倒映在缓缓流动"
    "的水面上，像一串被风吹散的星星。夜深了，小镇重新安静下来，只有流水声陪着人们进入梦乡。";

/* Original Japanese prose, kanji and kana mixed. */
static const char JA_PROSE[] =
    "週末になると、私はよく近所の公園を散歩します。春には桜が咲き、多くの家族がシートを広げてお弁当"
    "を食べています。子どもたちは芝生の上を走り回り、犬を連れた人たちは木陰でゆっくり休んでいます。"
    "夏になると、池のまわりでは蝉の声が一日中聞こえ、夕方には涼しい風が吹いてきます。秋は紅葉がとて"
    "もきれいで、写真を撮りに遠くから来る人も少なくありません。冬の朝は空気が澄んでいて、遠くの山ま"
    "ではっきり見えることがあります。季節ごとに違う景色を楽しめるので、この公園は私にとって特別な場"
    "所です。";

static void test_gopher_cjk(void)
{
    /* 28 characters are 28 words: too few, like 28 English words, and nothing else is wrong
     * with them: with prose after them, the poem passes. */
    GOPHER_IS(POEM, "gopher-word-count");
    llm_buf b;
    llm_buf_init(&b);
    GOPHER_IS(first_words(&b, PROSE, 28), "gopher-word-count");
    llm_buf_clear(&b);
    llm_buf_puts(&b, POEM);
    llm_buf_puts(&b, "\n\n");
    llm_buf_puts(&b, ZH_PROSE);
    GOPHER_IS(b.data, NULL);
    GOPHER_IS(ZH_PROSE, NULL);
    GOPHER_IS(JA_PROSE, NULL);
    /* With a few Latin words mixed in, still no English stop words asked for. */
    llm_buf_clear(&b);
    llm_buf_puts(&b, "我们用 Python 和 Linux 写了一个程序。");
    llm_buf_puts(&b, ZH_PROSE);
    GOPHER_IS(b.data, NULL);
    /* A repeated Chinese passage is a repetition. */
    llm_buf_clear(&b);
    llm_buf_puts(&b, ZH_PROSE);
    llm_buf_puts(&b, "\n\n");
    llm_buf_puts(&b, ZH_PROSE);
    GOPHER_IS(b.data, "gopher-dup-paragraphs");
    llm_buf_clear(&b);
    llm_buf_puts(&b, ZH_PROSE);
    llm_buf_puts(&b, ZH_PROSE);
    GOPHER_IS(b.data, "gopher-dup-ngram");
    /* A five-character phrase after 15 of the commas is no repetition: n-grams of CJK
     * characters are twice as long (5-grams of characters would find 19% repeated). */
    llm_buf_clear(&b);
    int commas = 0;
    for (const char *p = ZH_PROSE; *p; p++) {
        llm_buf_putc(&b, *p);
        if (p - ZH_PROSE >= 2 && memcmp(p - 2, "，", 3) == 0 && commas++ < 15)
            llm_buf_puts(&b, "我们的小镇");
    }
    CHECK(commas >= 15);
    GOPHER_IS(b.data, NULL);
    /* "……" is one ellipsis: five of them in 300 characters are few; 35 "……" are too many. */
    llm_buf_clear(&b);
    for (int i = 0; i < 5; i++)
        llm_buf_puts(&b, "他说……");
    llm_buf_puts(&b, ZH_PROSE);
    GOPHER_IS(b.data, NULL);
    for (int i = 0; i < 30; i++)
        llm_buf_puts(&b, "嗯……");
    GOPHER_IS(b.data, "gopher-symbol-ratio");
    llm_buf_free(&b);
}

/* Real poems, from the chinese-poetry collection (data/npm/node_modules/chinese-poetry), in
 * which short phrases recur as they do in verse. */

/* Zhang Ruoxu, "Spring River, Flowers, Moonlit Night" (7th-8th century): "江月" three times,
 * "春江" twice, "月" fifteen times, and "不知", "何處", "可憐", "落月", "明月" twice each. */
static const char SPRING_RIVER[] =
    "春江潮水連海平，海上明月共潮生。\n"
    "灩灩隨波千萬里，何處春江無月明？\n"
    "江流宛轉遶芳甸，月照花林皆似霰。\n"
    "空裏流霜不覺飛，汀上白沙看不見。\n"
    "江天一色無纖塵，皎皎空中孤月輪。\n"
    "江畔何人初見月，江月何年初照人？\n"
    "人生代代無窮已，江月年年秖相似。\n"
    "不知江月待何人？但見長江送流水。\n"
    "白雲一片去悠悠，青楓浦上不勝愁。\n"
    "誰家今夜扁舟子，何處相思明月樓？\n"
    "可憐樓上月裴回，應照離人妝鏡臺。\n"
    "玉戶簾中卷不去，擣衣砧上拂還來。\n"
    "此時相望不相聞，願逐月華流照君。\n"
    "鴻雁長飛光不度，魚龍潛躍水成文。\n"
    "昨夜閑潭夢落花，可憐春半不還家。\n"
    "江水流春去欲盡，江潭落月復西斜。\n"
    "斜月沈沈藏海霧，碣石瀟湘無限路。\n"
    "不知乘月幾人歸，落月搖情滿江樹。";

/* Li Bai, "The Road to Shu Is Hard": its refrain "蜀道之難難於上青天" three times. */
static const char SHU_ROAD[] =
    "噫吁嚱！危乎高哉！蜀道之難難於上青天！蠶叢及魚鳧，開國何茫然。\n"
    "爾來四萬八千歲，乃與秦塞通人煙。\n"
    "西當太白有鳥道，可以橫絕峨眉巔。\n"
    "地崩山摧壯士死，然後天梯石棧方鉤連。\n"
    "上有六龍迴日之高標，下有衝波逆折之迴川。\n"
    "黃鶴之飛尚不得，猨猱欲度愁攀緣。\n"
    "青泥何盤盤，百步九折縈巖巒。\n"
    "捫參歷井仰脅息，以手撫膺坐長歎。\n"
    "問君西遊何時還？畏途巉巖不可攀。\n"
    "但見悲鳥號枯木，雄飛呼雌繞林間。\n"
    "又聞子規啼夜月，愁空山，蜀道之難難於上青天！使人聽此彫朱顏。\n"
    "連峰去天不盈尺，枯松倒挂倚絕壁。\n"
    "飛湍瀑流相喧豗，砅崖轉石萬壑雷。\n"
    "其嶮也若此，嗟爾遠道之人胡爲乎來哉？\n"
    "劒閣崢嶸而崔嵬，一夫當關，萬夫莫開。\n"
    "所守或匪親，化爲狼與豺。\n"
    "朝避猛虎，夕避長蛇。\n"
    "磨牙吮血，殺人如麻。\n"
    "錦城雖云樂，不如早還家。\n"
    "蜀道之難難於上青天，側身西望長咨嗟。";

/* Book of Songs, "Guan ju": "窈窕淑女" four times and "参差荇菜" three times in 104
 * characters. Its top 6-character n-gram, "参差荇菜左右" three times, is 17.3% of the
 * characters, under the 18% of 3-grams; n-grams of single characters would find 19% of it
 * in repeated 5-grams and drop it. */
static const char GUAN_JU[] =
    "关关雎鸠，在河之洲。窈窕淑女，君子好逑。\n"
    "参差荇菜，左右流之。窈窕淑女，寤寐求之。\n"
    "求之不得，寤寐思服。悠哉悠哉，辗转反侧。\n"
    "参差荇菜，左右采之。窈窕淑女，琴瑟友之。\n"
    "参差荇菜，左右芼之。窈窕淑女，钟鼓乐之。";

/* Book of Songs, "Nan shan you tai": "乐只君子" ten times, 26% of its characters. */
static const char NAN_SHAN[] =
    "南山有台，北山有莱。乐只君子，邦家之基。乐只君子，万寿无期。\n"
    "南山有桑，北山有杨。乐只君子，邦家之光。乐只君子，万寿无疆。\n"
    "南山有杞，北山有李。乐只君子，民之父母。乐只君子，德音不已。\n"
    "南山有栲，北山有杻。乐只君子，遐不眉寿。乐只君子，德音是茂。\n"
    "南山有枸，北山有楰。乐只君子，遐不黄耇。乐只君子，保艾尔后。";

static size_t occurrences(const char *s, const char *phrase)
{
    size_t count = 0;
    for (const char *p = s; (p = strstr(p, phrase)); p += strlen(phrase))
        count++;
    return count;
}

static void test_gopher_cjk_poems(void)
{
    /* Short phrases recurring as verse has them: no repetition. */
    CHECK(occurrences(SPRING_RIVER, "江月") == 3 && occurrences(SPRING_RIVER, "春江") == 2);
    CHECK(occurrences(SPRING_RIVER, "月") == 15);
    GOPHER_IS(SPRING_RIVER, NULL);
    CHECK(occurrences(SHU_ROAD, "蜀道之難難於上青天") == 3);
    GOPHER_IS(SHU_ROAD, NULL);
    CHECK(occurrences(GUAN_JU, "窈窕淑女") == 4 && occurrences(GUAN_JU, "参差荇菜") == 3);
    GOPHER_IS(GUAN_JU, NULL);
    /* The same poems are kept as one paragraph (no line breaks) and after prose. */
    llm_buf b;
    llm_buf_init(&b);
    for (const char *p = SPRING_RIVER; *p; p++)
        if (*p != '\n')
            llm_buf_putc(&b, *p);
    llm_buf_putc(&b, '\0');
    GOPHER_IS(b.data, NULL);
    llm_buf_clear(&b);
    llm_buf_puts(&b, ZH_PROSE);
    llm_buf_puts(&b, "\n\n");
    llm_buf_puts(&b, GUAN_JU);
    GOPHER_IS(b.data, NULL);
    /* Heavy repetition is still repetition. A four-character phrase in a quarter of the
     * characters, as a two-word refrain in a quarter of an English song's would be. */
    CHECK(occurrences(NAN_SHAN, "乐只君子") == 10);
    GOPHER_IS(NAN_SHAN, "gopher-top-ngram");
    /* The refrain of "Shu Road" after every line: 23 times, a quarter of the characters in
     * its first six. */
    llm_buf_clear(&b);
    for (const char *p = SHU_ROAD; *p; p++) {
        if (*p == '\n')
            llm_buf_puts(&b, "蜀道之難難於上青天！");
        llm_buf_putc(&b, *p);
    }
    llm_buf_puts(&b, "蜀道之難難於上青天！");
    GOPHER_IS(b.data, "gopher-top-ngram");
    /* The poem twice: its lines repeat, and without line breaks its 10-character n-grams. */
    llm_buf_clear(&b);
    llm_buf_puts(&b, SPRING_RIVER);
    llm_buf_puts(&b, "\n");
    llm_buf_puts(&b, SPRING_RIVER);
    GOPHER_IS(b.data, "gopher-dup-lines");
    llm_buf_clear(&b);
    for (int copy = 0; copy < 2; copy++)
        for (const char *p = SPRING_RIVER; *p; p++)
            if (*p != '\n')
                llm_buf_putc(&b, *p);
    llm_buf_putc(&b, '\0');
    GOPHER_IS(b.data, "gopher-dup-ngram");
    llm_buf_free(&b);
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Large documents: one of 100000 words through every rule, one of 8 MB, one of 8 MB in a
 * single line, each in well under a second (seconds under valgrind). */
static void test_gopher_large(void)
{
    llm_buf b;
    llm_buf_init(&b);
    unsigned long next = 0;
    llm_buf_puts(&b, "the start of the text\n");
    while (next < 99995)
        put_line(&b, &next, 5, 7);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    GOPHER_IS(finish(&b), NULL);   /* exactly 100000 words */
    llm_buf_putc(&b, '\n');
    while (b.len < (8u << 20))
        put_line(&b, &next, 12, 7);
    GOPHER_IS(finish(&b), "gopher-word-count");
    /* One line of 100 tokens of 80 kB. */
    size_t seps = 0;
    for (size_t i = 0; i < b.len; i++)
        if (b.data[i] == '\n' || b.data[i] == ' ')
            b.data[i] = ++seps % 10000 ? '.' : ' ';
    GOPHER_IS(b.data, "gopher-mean-word-length");
    double s = seconds_since(&t0);
    CHECKF(s < 10, "%.2f s", s);
    llm_buf_free(&b);
}

/* ---- C4 ---- */

/* C4 on text appends want_out (or nothing when want_out is NULL) to a buffer holding "<". */
static void check_c4(int line, const char *text, const char *want, const char *want_out)
{
    llm_buf out;
    llm_buf_init(&out);
    llm_buf_puts(&out, "<");
    const char *got = clean_quality_c4(text, strlen(text), &out);
    CHECKF(same_rule(got, want), "line %d: got %s, want %s", line, rule_name(got), rule_name(want));
    const char *o = want_out ? want_out : "";
    CHECKF(out.len == 1 + strlen(o) && memcmp(out.data + 1, o, strlen(o)) == 0 && out.data[out.len] == '\0',
           "line %d: out [%s], want [%s]", line, out.data + 1, o);
    llm_buf_free(&out);
}

#define C4_IS(text, want, want_out) check_c4(__LINE__, (text), (want), (want_out))

static void test_c4_lines(void)
{
    static const char in[] =
        "Cookie notice: this site uses cookies to improve your experience.\n"
        "The history of the harbor begins with a small fishing village.[1] Boats were built on the beach.\n"
        "Read more\n"
        "Please enable JavaScript to view the comments.\n"
        "By using this site you accept the Terms of Use.\n"
        "Tiny line.\n"
        "The first lighthouse was lit in 1850 [citation needed] and it burned whale oil.\n"
        "It was a long wait...\n"
        "\n"
        "Privacy Policy\n"
        "\n"
        "The keeper lived in a cottage next to the tower. His family kept a garden there.\n"
        "\"We never missed a night,\" his daughter once said.\n"
        "Visitors still ask about the ghost [edit]\n"
        "Was it haunted? Nobody can say for sure!";
    static const char want[] =
        "The history of the harbor begins with a small fishing village. Boats were built on the beach.\n"
        "The first lighthouse was lit in 1850 and it burned whale oil.\n"
        "\n"
        "The keeper lived in a cottage next to the tower. His family kept a garden there.\n"
        "\"We never missed a night,\" his daughter once said.\n"
        "Was it haunted? Nobody can say for sure!";
    C4_IS(in, NULL, want);
}

static void test_c4_page_rules(void)
{
    static const char five[] =
        "One sentence is here. Two sentences are here.\n"
        "Three sentences are here. Four are here, e.g. this one. Five are here!";
    C4_IS(five, NULL, five);
    C4_IS("One sentence is here. Two sentences are here.\nThree sentences are here. Four are here.",
          "c4-too-few-sentences", NULL);
    C4_IS("A page of Lorem Ipsum dolor sit amet.", "c4-lorem-ipsum", NULL);
    static const char lorem_late[] =
        "One sentence is here. Two sentences are here.\n"
        "Three sentences are here. Four are here, e.g. this one. Five are here!\n"
        "lorem ipsum";
    C4_IS(lorem_late, "c4-lorem-ipsum", NULL);
    static const char curly[] =
        "One sentence is here. Two sentences are here.\n"
        "Three sentences are here. Four are here. Five are here!\n"
        "function f() { return 1; }";
    C4_IS(curly, "c4-curly-bracket", NULL);
    C4_IS("Menu\nHome\nAbout us", "c4-empty", NULL);
    C4_IS("", "c4-empty", NULL);
    /* Lines with a token over 1000 characters go. */
    llm_buf b;
    llm_buf_init(&b);
    llm_buf_puts(&b, five);
    llm_buf_puts(&b, "\nThe data is ");
    for (int i = 0; i < 1001; i++)
        llm_buf_putc(&b, 'x');
    llm_buf_puts(&b, " here.");
    C4_IS(b.data, NULL, five);
    llm_buf_free(&b);
}

static void test_c4_cjk(void)
{
    static const char in[] =
        "江边小镇\n"
        "清晨的江边小镇还笼罩在薄雾之中。石板路被夜里的细雨打湿，泛着淡淡的光！\n"
        "早起的老人提着竹篮去集市买菜。\n"
        "卖豆浆的摊主问：「要油条吗？」\n"
        "好。\n"
        "週末になると、私はよく近所の公園を散歩します。";
    static const char want[] =
        "清晨的江边小镇还笼罩在薄雾之中。石板路被夜里的细雨打湿，泛着淡淡的光！\n"
        "早起的老人提着竹篮去集市买菜。\n"
        "卖豆浆的摊主问：「要油条吗？」\n"
        "週末になると、私はよく近所の公園を散歩します。";
    C4_IS(in, NULL, want);
    C4_IS("清晨的江边小镇还笼罩在薄雾之中。\n早起的老人提着竹篮去集市买菜。", "c4-too-few-sentences", NULL);
}

static void test_c4_large(void)
{
    llm_buf b, out;
    llm_buf_init(&b);
    llm_buf_init(&out);
    unsigned long next = 0;
    while (b.len < (8u << 20)) {
        llm_buf_puts(&b, "The ");
        put_line(&b, &next, 10, 6);
        b.data[b.len - 1] = '.';
        llm_buf_puts(&b, next % 3 ? "\n" : "\nmenu item\n");
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const char *r = clean_quality_c4(b.data, b.len, &out);
    double s = seconds_since(&t0);
    CHECKF(r == NULL, "%s", r);
    CHECK(out.len > b.len / 2 && out.len < b.len && !llm_buf_failed(&out));
    CHECKF(s < 10, "%.2f s", s);
    llm_buf_free(&b);
    llm_buf_free(&out);
}

/* ---- The fast paths against their references ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)   /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static size_t rng_below(size_t n)
{
    return (size_t)(rng() % n);
}

/* Appends random valid UTF-8 text made of the things the word splitter tells apart: ASCII
 * words with punctuation around and inside, punctuation alone, CJK runs, other scripts,
 * Unicode spaces and punctuation, controls, tokens longer than a block, and separators. */
static void put_random_text(llm_buf *b, size_t pieces)
{
    static const char *const other[] = {
        "中", "文", "字", "の", "カ", "ー", "々", "〇", "，", "。", "、", "「", "」", "……", "…",
        "—", "–", "·", "•", "ё", "Ж", "Ω", "é", "ß", "ﬁ", "１", "Ａ", "ｶ", "\xC2\xA0", "\xE3\x80\x80",
        "\xE2\x80\x8B", "\xF0\xA0\x80\x80", "\xF0\x9F\x98\x80", "\t", "\r", "\x01", "\x7F", "#",
    };
    static const char punct[] = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    for (size_t k = 0; k < pieces; k++) {
        switch (rng_below(10)) {
        case 0: case 1: case 2: case 3: {   /* an ASCII word */
            size_t len = 1 + rng_below(12);
            for (size_t i = 0; i < len; i++) {
                size_t r = rng_below(40);
                llm_buf_putc(b, r < 26 ? (char)('a' + r) : r < 30 ? (char)('A' + r) : r < 36 ? (char)('0' + r - 30)
                                                                                         : punct[rng_below(sizeof punct - 1)]);
            }
            break;
        }
        case 4:
            llm_buf_putc(b, punct[rng_below(sizeof punct - 1)]);
            break;
        case 5: case 6:
            llm_buf_puts(b, other[rng_below(sizeof other / sizeof other[0])]);
            break;
        case 7:   /* a run of CJK characters */
            for (size_t i = rng_below(30); i-- > 0;)
                llm_buf_puts(b, other[rng_below(8)]);
            break;
        case 8:   /* a token longer than a block */
            for (size_t i = 60 + rng_below(150); i-- > 0;)
                llm_buf_putc(b, rng_below(8) ? (char)('a' + rng_below(26)) : '-');
            break;
        default:
            llm_buf_puts(b, rng_below(6) ? " " : rng_below(2) ? "\n" : "\n\n");
            break;
        }
        if (rng_below(3))
            llm_buf_putc(b, rng_below(8) ? ' ' : '\n');
    }
}

/* The words as next_word alone finds them. */
static void scan_words_reference(gopher_doc *d, const char *text, size_t n)
{
    size_t cap = n / 2 + 1 < GOPHER_MAX_WORDS ? n / 2 + 1 : GOPHER_MAX_WORDS;
    d->hash = malloc(cap * sizeof *d->hash);
    d->info = malloc(cap * sizeof *d->info);
    gopher_words_slowly(d, (const unsigned char *)text, n, 0, n);
    gopher_tally_words(d);
}

static void test_block_scanner_matches_next_word(void)
{
    llm_buf b;
    llm_buf_init(&b);
    for (int round = 0; round < 3000; round++) {
        llm_buf_clear(&b);
        put_random_text(&b, 1 + rng_below(round < 2000 ? 60 : 600));
        size_t start = rng_below(8);   /* every alignment, at a character */
        while (start < b.len && (b.data[start] & 0xC0) == 0x80)
            start++;
        const char *text = b.data + (start < b.len ? start : 0);
        size_t n = b.len - (size_t)(text - b.data);
        gopher_doc fast, ref;
        memset(&fast, 0, sizeof fast);
        memset(&ref, 0, sizeof ref);
        CHECK(gopher_scan_words(&fast, text, n) == 0);
        scan_words_reference(&ref, text, n);
        bool same = fast.words == ref.words && fast.cjk_words == ref.cjk_words &&
                    fast.alpha_words == ref.alpha_words && fast.latin_words == ref.latin_words &&
                    fast.stop_words == ref.stop_words && fast.spaced_chars == ref.spaced_chars &&
                    memcmp(fast.hash, ref.hash, ref.words * sizeof *ref.hash) == 0 &&
                    memcmp(fast.info, ref.info, ref.words * sizeof *ref.info) == 0;
        CHECKF(same, "round %d: %zu words against %zu: [%.*s]", round, fast.words, ref.words, (int)n, text);
        free(fast.hash);
        free(fast.info);
        free(ref.hash);
        free(ref.info);
        if (!same)
            break;
    }
    llm_buf_free(&b);
}

static void test_block_classifiers_agree(void)
{
    unsigned char block[64];
    for (int round = 0; round < 20000; round++) {
        for (size_t i = 0; i < sizeof block; i++)   /* ASCII, spaces and every other byte */
            block[i] = (unsigned char)(round % 3 ? rng_below(256) : rng_below(2) ? ' ' : 'a' + rng_below(26));
        block_masks fast, ref;
        block_classify(block, &fast);
        block_classify_swar(block, &ref);
        CHECKF(fast.space == ref.space && fast.punct == ref.punct && fast.letter == ref.letter &&
                   fast.other == ref.other, "round %d", round);
        for (size_t i = 0; i < sizeof block; i++) {   /* and both against the table */
            unsigned c = block[i];
            int want = c >= 0x80 || c == 0x7F || (c < 0x20 && c != '\n') ? -1 : ascii_classes[c] - '0';
            int got = (ref.other >> i & 1) ? -1 : (ref.space >> i & 1) ? CC_SPACE : (ref.punct >> i & 1) ? CC_PUNCT
                      : (ref.letter >> i & 1) ? CC_LATIN : CC_OTHER;
            CHECKF(got == want, "byte %02x: %d, want %d", c, got, want);
        }
    }
}

static void test_stop_word_hash(void)
{
    static const char *const stop[] = {"the", "be", "to", "of", "and", "that", "have", "with"};
    static const char *const not_stop[] = {"The", "THE", "them", "th", "a", "an", "withx", "he", "tha", "hav", "wit", "o", "ofe", "tot"};
    for (size_t i = 0; i < 8; i++) {
        uint64_t head = 0;
        memcpy(&head, stop[i], strlen(stop[i]));
        CHECKF(is_stop_word(head), "%s", stop[i]);
    }
    for (size_t i = 0; i < sizeof not_stop / sizeof not_stop[0]; i++) {
        uint64_t head = 0;
        memcpy(&head, not_stop[i], strlen(not_stop[i]));
        CHECKF(!is_stop_word(head), "%s", not_stop[i]);
    }
    for (int i = 0; i < 100000; i++)   /* random heads: only the eight match */
        CHECK(!is_stop_word(rng() >> rng_below(64) | 1ull << 40));
}

static bool contains_naively(const char *s, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++) {
        size_t k = 0;
        while (k < m && ascii_lower((unsigned char)s[i + k]) == (unsigned char)needle[k])
            k++;
        if (k == m)
            return true;
    }
    return false;
}

static void test_scanning_helpers(void)
{
    static const char *const phrases[] = {"javascript", "terms of use", "privacy policy", "cookie"};
    llm_buf b;
    llm_buf_init(&b);
    for (int round = 0; round < 5000; round++) {
        llm_buf_clear(&b);
        put_random_text(&b, 1 + rng_below(40));
        for (int k = (int)rng_below(3); k-- > 0;) {   /* phrases in any case, anywhere */
            size_t at = rng_below(b.len + 1);
            char phrase[32];
            const char *p = phrases[rng_below(4)];
            size_t m = strlen(p);
            for (size_t i = 0; i < m; i++)
                phrase[i] = rng_below(2) ? p[i] : (char)(p[i] >= 'a' && p[i] <= 'z' ? p[i] - 32 : p[i]);
            if (rng_below(4) == 0)
                phrase[rng_below(m)] = 'x';   /* or nearly */
            llm_buf tail;
            llm_buf_init(&tail);
            llm_buf_append(&tail, b.data + at, b.len - at);
            b.len = at;
            llm_buf_append(&b, phrase, m);
            llm_buf_append(&b, tail.data, tail.len);
            llm_buf_free(&tail);
        }
        const unsigned char *s = (const unsigned char *)b.data;
        for (size_t k = 0; k < 4; k++)
            CHECKF(contains_phrase(s, b.len, phrases + k, 1) == contains_naively(b.data, b.len, phrases[k]),
                   "%s in [%s]", phrases[k], b.data);
        CHECK(count_chars(s, b.len) == llm_utf8_count(b.data, b.len));
        size_t want = 0;
        while (want < b.len && !strchr(".!?", b.data[want] ? b.data[want] : 'x') && s[want] != 0xE3 && s[want] != 0xEF)
            want++;
        CHECK(next_stop_candidate(s, b.len, 0) == want);
    }
    llm_buf_free(&b);
}

/* Arbitrary bytes break the contract (valid UTF-8) but must not break the program. */
static void test_random_bytes(void)
{
    char buf[700];
    llm_buf out;
    llm_buf_init(&out);
    for (int round = 0; round < 20000; round++) {
        size_t n = rng_below(sizeof buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)(rng_below(4) ? rng_below(256) : rng_below(2) ? ' ' : '\n');
        const char *r = clean_quality_gopher(buf, n);
        CHECK(r == NULL || strncmp(r, "gopher-", 7) == 0);
        llm_buf_clear(&out);
        r = clean_quality_c4(buf, n, &out);
        CHECK(r == NULL ? out.len <= n + n / 2 : strncmp(r, "c4-", 3) == 0 && out.len == 0);
    }
    llm_buf_free(&out);
}

int main(void)
{
    RUN(test_gopher_prose_passes);
    RUN(test_gopher_word_count);
    RUN(test_gopher_too_many_words);
    RUN(test_gopher_mean_word_length);
    RUN(test_gopher_symbol_ratio);
    RUN(test_gopher_bullet_lines);
    RUN(test_gopher_ellipsis_lines);
    RUN(test_gopher_alpha_words);
    RUN(test_gopher_stop_words);
    RUN(test_gopher_russian);
    RUN(test_gopher_dup_paragraphs);
    RUN(test_gopher_dup_paragraph_chars);
    RUN(test_gopher_dup_lines);
    RUN(test_gopher_dup_line_chars);
    RUN(test_gopher_top_ngram);
    RUN(test_gopher_dup_ngram);
    RUN(test_gopher_cjk);
    RUN(test_gopher_cjk_poems);
    RUN(test_gopher_large);
    RUN(test_c4_lines);
    RUN(test_c4_page_rules);
    RUN(test_c4_cjk);
    RUN(test_c4_large);
    RUN(test_block_scanner_matches_next_word);
    RUN(test_block_classifiers_agree);
    RUN(test_stop_word_hash);
    RUN(test_scanning_helpers);
    RUN(test_random_bytes);
    CHECK_EXIT();
}
