/* Native fast paths: the strict record reader and canonical base64 decoding.
 *
 * scan: one JSONL line in; out, the RFC 8785 (JCS) canonical bytes of the record without its
 * top-level "_provenance" member, where that member's value sits in the line and, if asked, where
 * one other top-level member's value sits. No Python object is built for the record's content.
 *
 * The contract is one-sided: `scan` either returns exactly what the reference path in
 * provenance/canonical.py computes (parse_json + canonicalize), or returns None, and then the
 * caller runs the reference path, which gives the verdict and the message. Anything the reference
 * might judge differently makes `scan` return None: invalid UTF-8, a lone surrogate, a duplicate
 * key at any depth, an integer of 16 or more digits, a float token of 64 or more characters, a
 * number that overflows, nesting deeper than the limit, a top level that is not an object, and
 * any grammar error. Floats are converted as float() converts them; those whose repr() has an
 * exponent are written by the reference's own ECMAScript formatter, passed in as a callable, and
 * the others as that formatter writes them.
 *
 * b64decode: the bytes of a text that is the canonical standard base64 encoding of them (RFC 4648
 * §4, with padding, no other characters, zero bits after the last byte), or None.
 *
 * Specs: RFC 8259 (JSON), RFC 8785 (JCS), RFC 3629 (UTF-8), RFC 4648 (base64).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>
#include <openssl/evp.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define OK 0
#define BAIL 1
#define FAIL (-1) /* a Python exception is set */

typedef struct {
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
    int quiet; /* validate only: writes are dropped */
} Buf;

typedef struct {
    Py_ssize_t key;     /* offset of the decoded key in Reader.keys */
    Py_ssize_t key_len;
    Py_ssize_t seg;     /* offset of `"key":value` in Reader.out */
    Py_ssize_t seg_len;
    int skip;           /* the top-level "_provenance" member */
} Member;

typedef struct {
    Member *items;
    Py_ssize_t len;
    Py_ssize_t cap;
} Members;

typedef struct {
    const unsigned char *s;
    Py_ssize_t n;
    Py_ssize_t i;
    int depth;
    int max_depth;
    PyObject *es6;
    Buf out;
    Buf keys;
    Buf scratch;
    Members members;
    Py_ssize_t prov_start;
    Py_ssize_t prov_end;
    const char *pick; /* a top-level key whose value's span is wanted too, or NULL */
    Py_ssize_t pick_len;
    Py_ssize_t pick_start;
    Py_ssize_t pick_end;
} Reader;

static const char PROVENANCE[] = "_provenance";

static int
reserve(Buf *b, Py_ssize_t extra)
{
    if (b->len + extra <= b->cap) {
        return OK;
    }
    Py_ssize_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + extra) {
        cap *= 2;
    }
    char *data = PyMem_Realloc(b->data, (size_t)cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return FAIL;
    }
    b->data = data;
    b->cap = cap;
    return OK;
}

static inline int
append(Buf *b, const void *bytes, Py_ssize_t len)
{
    if (b->quiet || len == 0) {
        return OK;
    }
    if (reserve(b, len) != OK) {
        return FAIL;
    }
    memcpy(b->data + b->len, bytes, (size_t)len);
    b->len += len;
    return OK;
}

static inline int
append_byte(Buf *b, char c)
{
    if (b->quiet) {
        return OK;
    }
    if (b->len >= b->cap && reserve(b, 1) != OK) {
        return FAIL;
    }
    b->data[b->len++] = c;
    return OK;
}

static inline void
skip_space(Reader *r)
{
    while (r->i < r->n) {
        unsigned char c = r->s[r->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            return;
        }
        r->i++;
    }
}

static int value(Reader *r, int top);
static int es6_number(Reader *r, double v);

/* UTF-8 encode a code point (never a surrogate, never above U+10FFFF). */
static int
put_utf8(Buf *b, unsigned int cp)
{
    char u[4];
    Py_ssize_t len;
    if (cp < 0x80) {
        u[0] = (char)cp;
        len = 1;
    }
    else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        len = 2;
    }
    else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        len = 3;
    }
    else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        len = 4;
    }
    return append(b, u, len);
}

/* RFC 8785 §3.2.2.2: a code point inside a string, escaped only if it must be. */
static int
put_char(Buf *b, unsigned int cp)
{
    static const char hex[] = "0123456789abcdef";
    switch (cp) {
    case '"':
        return append(b, "\\\"", 2);
    case '\\':
        return append(b, "\\\\", 2);
    case '\b':
        return append(b, "\\b", 2);
    case '\t':
        return append(b, "\\t", 2);
    case '\n':
        return append(b, "\\n", 2);
    case '\f':
        return append(b, "\\f", 2);
    case '\r':
        return append(b, "\\r", 2);
    default:
        break;
    }
    if (cp < 0x20) {
        char u[6] = {'\\', 'u', '0', '0', hex[cp >> 4], hex[cp & 0xF]};
        return append(b, u, 6);
    }
    return put_utf8(b, cp);
}

static int
hex4(Reader *r, unsigned int *cp)
{
    if (r->n - r->i < 4) {
        return BAIL;
    }
    unsigned int v = 0;
    for (int k = 0; k < 4; k++) {
        unsigned char c = r->s[r->i + k];
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= (unsigned int)(c - '0');
        }
        else if (c >= 'a' && c <= 'f') {
            v |= (unsigned int)(c - 'a' + 10);
        }
        else if (c >= 'A' && c <= 'F') {
            v |= (unsigned int)(c - 'A' + 10);
        }
        else {
            return BAIL;
        }
    }
    r->i += 4;
    *cp = v;
    return OK;
}

/* One escape sequence after the backslash; the code point it stands for. */
static int
escape(Reader *r, unsigned int *cp)
{
    if (r->i >= r->n) {
        return BAIL;
    }
    unsigned char c = r->s[r->i++];
    switch (c) {
    case '"':
    case '\\':
    case '/':
        *cp = c;
        return OK;
    case 'b':
        *cp = '\b';
        return OK;
    case 'f':
        *cp = '\f';
        return OK;
    case 'n':
        *cp = '\n';
        return OK;
    case 'r':
        *cp = '\r';
        return OK;
    case 't':
        *cp = '\t';
        return OK;
    case 'u':
        break;
    default:
        return BAIL;
    }
    unsigned int high;
    if (hex4(r, &high) != OK) {
        return BAIL;
    }
    if (high >= 0xDC00 && high <= 0xDFFF) {
        return BAIL; /* lone low surrogate */
    }
    if (high < 0xD800 || high > 0xDBFF) {
        *cp = high;
        return OK;
    }
    if (r->n - r->i < 2 || r->s[r->i] != '\\' || r->s[r->i + 1] != 'u') {
        return BAIL; /* lone high surrogate */
    }
    r->i += 2;
    unsigned int low;
    if (hex4(r, &low) != OK || low < 0xDC00 || low > 0xDFFF) {
        return BAIL;
    }
    *cp = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
    return OK;
}

/* Length of the well-formed UTF-8 sequence at s[i] (RFC 3629 §4), or 0. */
static Py_ssize_t
utf8_length(const unsigned char *s, Py_ssize_t i, Py_ssize_t n)
{
    unsigned char c = s[i];
    Py_ssize_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    }
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) {
            lo = 0xA0;
        }
        else if (c == 0xED) {
            hi = 0x9F; /* no surrogates */
        }
    }
    else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) {
            lo = 0x90;
        }
        else if (c == 0xF4) {
            hi = 0x8F;
        }
    }
    else {
        return 0;
    }
    if (n - i < len || s[i + 1] < lo || s[i + 1] > hi) {
        return 0;
    }
    for (Py_ssize_t k = 2; k < len; k++) {
        if (s[i + k] < 0x80 || s[i + k] > 0xBF) {
            return 0;
        }
    }
    return len;
}

/* The end of the run of bytes from s[i] that a string holds as they are: printable ASCII but the
 * quote and the backslash. */
static inline Py_ssize_t
plain_run(const unsigned char *s, Py_ssize_t i, Py_ssize_t n)
{
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (n - i >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(s + i));
        /* Signed: bytes from 0x80 up are negative, so below 0x20 too. */
        __m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote),
                                                 _mm_cmpeq_epi8(x, backslash)),
                                    _mm_cmplt_epi8(x, space));
        int mask = _mm_movemask_epi8(stop);
        if (mask != 0) {
            return i + __builtin_ctz((unsigned int)mask);
        }
        i += 16;
    }
#endif
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) {
            break;
        }
        i++;
    }
    return i;
}

/* The end of the run of text from s[i] that a string holds as it is: printable ASCII but the quote
 * and the backslash, and well-formed UTF-8; -1 at a byte that is not well-formed UTF-8. */
static Py_ssize_t
plain_text_end(const unsigned char *s, Py_ssize_t i, Py_ssize_t n)
{
    for (;;) {
        i = plain_run(s, i, n);
        if (i >= n || s[i] < 0x80) {
            return i;
        }
        Py_ssize_t len = utf8_length(s, i, n);
        if (len == 0) {
            return -1;
        }
        i += len;
    }
}

/* A string at s[i] == '"'. Writes its canonical form to out and, for a key, its decoded bytes
 * to keys. Runs of unescaped text, well-formed UTF-8 included, are copied as they are. */
static int
string(Reader *r, int key)
{
    const unsigned char *s = r->s;
    Py_ssize_t n = r->n;
    Py_ssize_t i = r->i + 1;
    if (append_byte(&r->out, '"') != OK) {
        return FAIL;
    }
    for (;;) {
        Py_ssize_t start = i;
        i = plain_text_end(s, i, n);
        if (i < 0) {
            return BAIL;
        }
        if (i > start) {
            if (append(&r->out, s + start, i - start) != OK) {
                return FAIL;
            }
            if (key && append(&r->keys, s + start, i - start) != OK) {
                return FAIL;
            }
        }
        if (i >= n) {
            return BAIL; /* unterminated */
        }
        if (s[i] == '"') {
            r->i = i + 1;
            return append_byte(&r->out, '"');
        }
        if (s[i] != '\\') {
            return BAIL; /* a raw control character */
        }
        r->i = i + 1;
        unsigned int cp;
        if (escape(r, &cp) != OK) {
            return BAIL;
        }
        i = r->i;
        if (put_char(&r->out, cp) != OK) {
            return FAIL;
        }
        if (key && put_utf8(&r->keys, cp) != OK) {
            return FAIL;
        }
    }
}

static inline int
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int
number(Reader *r)
{
    const unsigned char *s = r->s;
    Py_ssize_t n = r->n;
    Py_ssize_t start = r->i;
    int integral = 1;
    if (r->i < n && s[r->i] == '-') {
        r->i++;
    }
    Py_ssize_t digits = r->i;
    if (r->i >= n || !is_digit(s[r->i])) {
        return BAIL;
    }
    if (s[r->i] == '0') {
        r->i++;
    }
    else {
        while (r->i < n && is_digit(s[r->i])) {
            r->i++;
        }
    }
    digits = r->i - digits;
    if (r->i < n && s[r->i] == '.') {
        integral = 0;
        r->i++;
        if (r->i >= n || !is_digit(s[r->i])) {
            return BAIL;
        }
        while (r->i < n && is_digit(s[r->i])) {
            r->i++;
        }
    }
    if (r->i < n && (s[r->i] == 'e' || s[r->i] == 'E')) {
        integral = 0;
        r->i++;
        if (r->i < n && (s[r->i] == '+' || s[r->i] == '-')) {
            r->i++;
        }
        if (r->i >= n || !is_digit(s[r->i])) {
            return BAIL;
        }
        while (r->i < n && is_digit(s[r->i])) {
            r->i++;
        }
    }
    Py_ssize_t len = r->i - start;
    if (integral) {
        /* Up to 15 digits is within ±(2**53 - 1); longer ones are left to the reference. */
        if (digits >= 16) {
            return BAIL;
        }
        if (len == 2 && s[start] == '-' && s[start + 1] == '0') {
            return append_byte(&r->out, '0');
        }
        return append(&r->out, s + start, len);
    }
    char token[64];
    if (len >= (Py_ssize_t)sizeof(token)) {
        return BAIL;
    }
    memcpy(token, s + start, (size_t)len);
    token[len] = '\0';
    double v = PyOS_string_to_double(token, NULL, NULL);
    if (v == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return BAIL;
    }
    if (!isfinite(v)) {
        return BAIL;
    }
    if (v == 0) {
        return append_byte(&r->out, '0'); /* -0 too */
    }
    /* As the reference does: repr()'s shortest round-trip digits, and without an exponent the
     * layout is ECMAScript's but for a final ".0". Exponent forms go to the reference writer. */
    char *text = PyOS_double_to_string(v, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (text == NULL) {
        return FAIL;
    }
    if (strchr(text, 'e') == NULL) {
        size_t size = strlen(text);
        if (size >= 2 && text[size - 2] == '.' && text[size - 1] == '0') {
            size -= 2;
        }
        int rc = append(&r->out, text, (Py_ssize_t)size);
        PyMem_Free(text);
        return rc;
    }
    PyMem_Free(text);
    return es6_number(r, v);
}

static int
es6_number(Reader *r, double v)
{
    PyObject *f = PyFloat_FromDouble(v);
    if (f == NULL) {
        return FAIL;
    }
    PyObject *text = PyObject_CallOneArg(r->es6, f);
    Py_DECREF(f);
    if (text == NULL) {
        return FAIL;
    }
    Py_ssize_t size;
    const char *utf8 = PyUnicode_Check(text) ? PyUnicode_AsUTF8AndSize(text, &size) : NULL;
    if (utf8 == NULL) {
        Py_DECREF(text);
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "the number writer must return a str");
        }
        return FAIL;
    }
    int rc = append(&r->out, utf8, size);
    Py_DECREF(text);
    return rc;
}

static int
literal(Reader *r, const char *word, Py_ssize_t len)
{
    if (r->n - r->i < len || memcmp(r->s + r->i, word, (size_t)len) != 0) {
        return BAIL;
    }
    r->i += len;
    return append(&r->out, word, len);
}

static int
enter(Reader *r)
{
    r->i++;
    if (++r->depth > r->max_depth) {
        return BAIL;
    }
    return OK;
}

static int
array(Reader *r)
{
    int rc = enter(r);
    if (rc != OK) {
        return rc;
    }
    if (append_byte(&r->out, '[') != OK) {
        return FAIL;
    }
    skip_space(r);
    if (r->i < r->n && r->s[r->i] == ']') {
        r->i++;
        r->depth--;
        return append_byte(&r->out, ']');
    }
    for (;;) {
        if ((rc = value(r, 0)) != OK) {
            return rc;
        }
        skip_space(r);
        if (r->i >= r->n) {
            return BAIL;
        }
        unsigned char c = r->s[r->i++];
        if (c == ']') {
            r->depth--;
            return append_byte(&r->out, ']');
        }
        if (c != ',') {
            return BAIL;
        }
        if (append_byte(&r->out, ',') != OK) {
            return FAIL;
        }
        skip_space(r);
    }
}

/* RFC 8785 §3.2.3: keys in the order of their UTF-16 code units. For UTF-8 bytes that is byte
 * order, except between a character from U+E000 to U+FFFF (lead byte EE or EF: one code unit from
 * E000 up) and one above U+FFFF (lead byte F0 to F4: a surrogate pair, from D800). */
static inline int
key_order(const Reader *r, const Member *a, const Member *b)
{
    const unsigned char *x = (const unsigned char *)r->keys.data + a->key;
    const unsigned char *y = (const unsigned char *)r->keys.data + b->key;
    Py_ssize_t common = a->key_len < b->key_len ? a->key_len : b->key_len;
    Py_ssize_t k = 0;
    while (k < common && x[k] == y[k]) {
        k++;
    }
    if (k == common) {
        return (a->key_len > b->key_len) - (a->key_len < b->key_len);
    }
    /* The same bytes so far: both differing bytes sit in characters that start together. */
    Py_ssize_t j = k;
    while (j > 0 && (x[j] & 0xC0) == 0x80) {
        j--;
    }
    unsigned char p = x[j], q = y[j];
    if (p >= 0xEE && p <= 0xEF && q >= 0xF0) {
        return 1;
    }
    if (q >= 0xEE && q <= 0xEF && p >= 0xF0) {
        return -1;
    }
    return x[k] < y[k] ? -1 : 1;
}

/* Stable merge sort of m[0..n) by key, with tmp of n entries. */
static void
sort_members(const Reader *r, Member *m, Member *tmp, Py_ssize_t n)
{
    if (n < 2) {
        return;
    }
    if (n <= 12) {
        for (Py_ssize_t k = 1; k < n; k++) {
            Member x = m[k];
            Py_ssize_t j = k;
            while (j > 0 && key_order(r, &m[j - 1], &x) > 0) {
                m[j] = m[j - 1];
                j--;
            }
            m[j] = x;
        }
        return;
    }
    Py_ssize_t half = n / 2;
    sort_members(r, m, tmp, half);
    sort_members(r, m + half, tmp, n - half);
    Py_ssize_t a = 0, b = half, k = 0;
    while (a < half && b < n) {
        tmp[k++] = key_order(r, &m[b], &m[a]) < 0 ? m[b++] : m[a++];
    }
    while (a < half) {
        tmp[k++] = m[a++];
    }
    while (b < n) {
        tmp[k++] = m[b++];
    }
    memcpy(m, tmp, (size_t)n * sizeof(Member));
}

static int
push_member(Members *ms, const Member *m)
{
    if (ms->len == ms->cap) {
        Py_ssize_t cap = ms->cap ? ms->cap * 2 : 64;
        Member *items = PyMem_Realloc(ms->items, (size_t)cap * sizeof(Member));
        if (items == NULL) {
            PyErr_NoMemory();
            return FAIL;
        }
        ms->items = items;
        ms->cap = cap;
    }
    ms->items[ms->len++] = *m;
    return OK;
}

static int
unsorted(const Reader *r, const Member *m, Py_ssize_t count)
{
    const Member *prev = NULL;
    for (Py_ssize_t k = 0; k < count; k++) {
        if (m[k].skip) {
            continue;
        }
        if (prev != NULL && key_order(r, prev, &m[k]) >= 0) {
            return 1;
        }
        prev = &m[k];
    }
    return 0;
}

/* Members are written as they come, comma-separated; the top-level "_provenance" member is only
 * validated, not written. When the written keys are not already in strictly increasing order, the
 * members are sorted, checked for duplicates and written again in key order. */
static int
object(Reader *r, int top)
{
    int rc = enter(r);
    if (rc != OK) {
        return rc;
    }
    Py_ssize_t base = r->members.len;
    Py_ssize_t keys_base = r->keys.len;
    if (append_byte(&r->out, '{') != OK) {
        return FAIL;
    }
    Py_ssize_t body = r->out.len;
    Py_ssize_t written = 0;
    Py_ssize_t skipped = -1;
    skip_space(r);
    if (r->i < r->n && r->s[r->i] == '}') {
        r->i++;
    }
    else {
        for (;;) {
            if (r->i >= r->n || r->s[r->i] != '"') {
                return BAIL;
            }
            Py_ssize_t before = r->out.len;
            if (written && append_byte(&r->out, ',') != OK) {
                return FAIL;
            }
            Member m;
            m.key = r->keys.len;
            m.seg = r->out.len;
            if ((rc = string(r, 1)) != OK) {
                return rc;
            }
            m.key_len = r->keys.len - m.key;
            m.skip = top && m.key_len == (Py_ssize_t)(sizeof(PROVENANCE) - 1) &&
                     memcmp(r->keys.data + m.key, PROVENANCE, sizeof(PROVENANCE) - 1) == 0;
            if (m.skip) {
                r->out.len = before;
                r->out.quiet = 1;
                skipped = r->members.len - base;
            }
            skip_space(r);
            if (r->i >= r->n || r->s[r->i] != ':') {
                return BAIL;
            }
            r->i++;
            if (append_byte(&r->out, ':') != OK) {
                return FAIL;
            }
            skip_space(r);
            Py_ssize_t start = r->i;
            if ((rc = value(r, 0)) != OK) {
                return rc;
            }
            if (m.skip) {
                r->out.quiet = 0;
                r->prov_start = start;
                r->prov_end = r->i;
                m.seg = m.seg_len = 0;
            }
            else {
                m.seg_len = r->out.len - m.seg;
                written++;
                if (top && r->pick != NULL && m.key_len == r->pick_len &&
                    memcmp(r->keys.data + m.key, r->pick, (size_t)r->pick_len) == 0) {
                    r->pick_start = start;
                    r->pick_end = r->i;
                }
            }
            if (push_member(&r->members, &m) != OK) {
                return FAIL;
            }
            skip_space(r);
            if (r->i >= r->n) {
                return BAIL;
            }
            unsigned char c = r->s[r->i++];
            if (c == '}') {
                break;
            }
            if (c != ',') {
                return BAIL;
            }
            skip_space(r);
        }
    }
    Py_ssize_t count = r->members.len - base;
    Member *m = r->members.items + base;
    if (!unsorted(r, m, count)) {
        /* Written in order already, without duplicates; the skipped member must not repeat one. */
        for (Py_ssize_t k = 0; skipped >= 0 && k < count; k++) {
            if (k != skipped && key_order(r, &m[skipped], &m[k]) == 0) {
                return BAIL;
            }
        }
    }
    else {
        Member *tmp = PyMem_Malloc((size_t)count * sizeof(Member));
        if (tmp == NULL) {
            PyErr_NoMemory();
            return FAIL;
        }
        sort_members(r, m, tmp, count);
        PyMem_Free(tmp);
        for (Py_ssize_t k = 1; k < count; k++) {
            if (key_order(r, &m[k - 1], &m[k]) == 0) {
                return BAIL; /* duplicate key */
            }
        }
        /* Copy the members aside and write them back in key order. */
        Py_ssize_t size = r->out.len - body;
        r->scratch.len = 0;
        if (append(&r->scratch, r->out.data + body, size) != OK) {
            return FAIL;
        }
        r->out.len = body;
        int first = 1;
        for (Py_ssize_t k = 0; k < count; k++) {
            if (m[k].skip) {
                continue;
            }
            if (!first && append_byte(&r->out, ',') != OK) {
                return FAIL;
            }
            first = 0;
            if (append(&r->out, r->scratch.data + (m[k].seg - body), m[k].seg_len) != OK) {
                return FAIL;
            }
        }
    }
    r->members.len = base;
    r->keys.len = keys_base;
    r->depth--;
    return append_byte(&r->out, '}');
}

static int
value(Reader *r, int top)
{
    if (r->i >= r->n) {
        return BAIL;
    }
    switch (r->s[r->i]) {
    case '{':
        return object(r, top);
    case '[':
        return array(r);
    case '"':
        return string(r, 0);
    case 't':
        return literal(r, "true", 4);
    case 'f':
        return literal(r, "false", 5);
    case 'n':
        return literal(r, "null", 4);
    default:
        return number(r);
    }
}

/* Reads the n bytes at s into `r`: OK when the reader takes them (r->out holds the canonical
 * bytes of the content), BAIL when the reference must decide, FAIL with an exception set. The
 * caller frees the reader with reader_free whatever the outcome. */
static int
read_span(Reader *r, const unsigned char *s, Py_ssize_t n, PyObject *depth, PyObject *es6,
          PyObject *key)
{
    memset(r, 0, sizeof(*r));
    r->prov_start = -1;
    r->prov_end = -1;
    r->pick_start = -1;
    r->pick_end = -1;
    long max_depth = PyLong_AsLong(depth);
    if (max_depth == -1 && PyErr_Occurred()) {
        return FAIL;
    }
    if (max_depth < 0 || max_depth > 100000) {
        PyErr_SetString(PyExc_ValueError, "max_depth must be between 0 and 100000");
        return FAIL;
    }
    r->s = s;
    r->n = n;
    r->max_depth = (int)max_depth;
    r->es6 = es6;
    if (key != NULL) {
        if (!PyUnicode_Check(key)) {
            PyErr_SetString(PyExc_TypeError, "the reader needs a str key");
            return FAIL;
        }
        r->pick = PyUnicode_AsUTF8AndSize(key, &r->pick_len);
        if (r->pick == NULL) {
            return FAIL;
        }
    }
    int rc = reserve(&r->out, r->n + 16);
    if (rc == OK) {
        skip_space(r);
        rc = (r->i < r->n && r->s[r->i] == '{') ? object(r, 1) : BAIL;
    }
    if (rc == OK) {
        skip_space(r);
        if (r->i != r->n) {
            rc = BAIL; /* trailing data */
        }
    }
    return rc;
}

/* read_span over a bytes object. */
static int
read_line(Reader *r, PyObject *line, PyObject *depth, PyObject *es6, PyObject *key)
{
    if (!PyBytes_Check(line)) {
        memset(r, 0, sizeof(*r));
        PyErr_SetString(PyExc_TypeError, "the reader needs a bytes line");
        return FAIL;
    }
    return read_span(r, (const unsigned char *)PyBytes_AS_STRING(line), PyBytes_GET_SIZE(line),
                     depth, es6, key);
}

static void
reader_free(Reader *r)
{
    PyMem_Free(r->out.data);
    PyMem_Free(r->keys.data);
    PyMem_Free(r->scratch.data);
    PyMem_Free(r->members.items);
}

PyDoc_STRVAR(scan_doc,
"scan(line, max_depth, number_writer, key=None, /)\n--\n\n"
"The RFC 8785 bytes of the JSON object in `line` without its top-level \"_provenance\" member,\n"
"with the start and end of that member's value in `line` (-1, -1 when it is absent) and, when\n"
"`key` is given, of the top-level member `key` (which stays in the bytes); or None when the\n"
"strict reference reader must decide. `number_writer` turns a float into its ECMAScript text.");

static PyObject *
scan(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 3 && nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "scan() takes 3 or 4 arguments");
        return NULL;
    }
    Reader r;
    int rc = read_line(&r, args[0], args[1], args[2], nargs == 4 ? args[3] : NULL);
    PyObject *result = NULL;
    if (rc == OK) {
        result = nargs == 3 ? Py_BuildValue("(y#nn)", r.out.data, r.out.len, r.prov_start,
                                            r.prov_end)
                            : Py_BuildValue("(y#nnnn)", r.out.data, r.out.len, r.prov_start,
                                            r.prov_end, r.pick_start, r.pick_end);
    }
    else if (rc == BAIL) {
        result = Py_NewRef(Py_None);
    }
    reader_free(&r);
    return result;
}

/* RFC 4648 §4 alphabet: value of each byte, -1 for every other byte ('=' included). */
static signed char b64_values[256];

static void
b64_init(void)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    memset(b64_values, -1, sizeof(b64_values));
    for (int k = 0; k < 64; k++) {
        b64_values[(unsigned char)alphabet[k]] = (signed char)k;
    }
}

/* Three bytes from the 6-bit values of one quad. */
static inline void
b64_quad(unsigned char *d, int a, int b, int c, int e)
{
    unsigned int v = ((unsigned int)a << 18) | ((unsigned int)b << 12) | ((unsigned int)c << 6) |
                     (unsigned int)e;
    d[0] = (unsigned char)(v >> 16);
    d[1] = (unsigned char)(v >> 8);
    d[2] = (unsigned char)v;
}

/* Size of the bytes that the n characters at s decode to when they are the canonical base64
 * encoding of them, or -1. */
static Py_ssize_t
b64_size(const unsigned char *s, Py_ssize_t n)
{
    if (n % 4 != 0) {
        return -1;
    }
    if (n == 0) {
        return 0;
    }
    int pad = s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
    return n / 4 * 3 - pad;
}

/* Decode the n characters at s (n a multiple of 4, b64_size(s, n) bytes room at d): OK, or BAIL
 * when they are not the canonical encoding of anything. */
static int
b64_decode(const unsigned char *s, Py_ssize_t n, unsigned char *d)
{
    if (n == 0) {
        return OK;
    }
    int pad = s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
    Py_ssize_t whole = n - 4; /* every quad but the last */
    for (Py_ssize_t i = 0; i < whole; i += 4) {
        int a = b64_values[s[i]], b = b64_values[s[i + 1]];
        int c = b64_values[s[i + 2]], e = b64_values[s[i + 3]];
        if ((a | b | c | e) < 0) {
            return BAIL;
        }
        b64_quad(d, a, b, c, e);
        d += 3;
    }
    const unsigned char *q = s + whole;
    int a = b64_values[q[0]], b = b64_values[q[1]];
    int c = pad == 2 ? 0 : b64_values[q[2]];
    int e = pad ? 0 : b64_values[q[3]];
    /* Canonical: the bits after the last byte are zero. */
    int loose = (pad == 2 && (b & 0x0F)) || (pad == 1 && (c & 0x03));
    if ((a | b | c | e) < 0 || loose) {
        return BAIL;
    }
    unsigned char last[3];
    b64_quad(last, a, b, c, e);
    memcpy(d, last, (size_t)(3 - pad));
    return OK;
}

PyDoc_STRVAR(b64decode_doc,
"b64decode(text, /)\n--\n\n"
"The bytes whose canonical standard base64 encoding (RFC 4648 section 4: padded, nothing else,\n"
"zero bits after the last byte) is `text`, or None when `text` is anything else.");

static PyObject *
b64decode(PyObject *module, PyObject *text)
{
    (void)module;
    if (!PyUnicode_Check(text) || !PyUnicode_IS_ASCII(text)) {
        Py_RETURN_NONE;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const unsigned char *s = PyUnicode_1BYTE_DATA(text);
    Py_ssize_t size = b64_size(s, n);
    if (size < 0) {
        Py_RETURN_NONE;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (out == NULL) {
        return NULL;
    }
    if (b64_decode(s, n, (unsigned char *)PyBytes_AS_STRING(out)) != OK) {
        Py_DECREF(out);
        Py_RETURN_NONE;
    }
    return out;
}

/* ---- SHA-256 (OpenSSL's libcrypto, the implementation hashlib uses) ------------------------- */

static EVP_MD *sha256_md;
static EVP_MD_CTX *sha256_ctx; /* used with the GIL held only */

/* SHA-256 of the na bytes at a followed by the nb bytes at b. */
static int
sha256_two(const void *a, size_t na, const void *b, size_t nb, unsigned char out[32])
{
    unsigned int len = 0;
    if (EVP_DigestInit_ex2(sha256_ctx, sha256_md, NULL) != 1 ||
        EVP_DigestUpdate(sha256_ctx, a, na) != 1 ||
        (nb != 0 && EVP_DigestUpdate(sha256_ctx, b, nb) != 1) ||
        EVP_DigestFinal_ex(sha256_ctx, out, &len) != 1 || len != 32) {
        PyErr_SetString(PyExc_RuntimeError, "SHA-256 failed in libcrypto");
        return FAIL;
    }
    return OK;
}

static const char HEX[] = "0123456789abcdef";

static void
to_hex(const unsigned char *bytes, Py_ssize_t n, char *out)
{
    for (Py_ssize_t k = 0; k < n; k++) {
        out[2 * k] = HEX[bytes[k] >> 4];
        out[2 * k + 1] = HEX[bytes[k] & 0x0F];
    }
}

/* Lower-case hex digit values, -1 for every other byte (upper case too: the layout is lower
 * case, and anything else is read by Python). */
static signed char hex_values[256];

static void
hex_init(void)
{
    memset(hex_values, -1, sizeof(hex_values));
    for (int k = 0; k < 16; k++) {
        hex_values[(unsigned char)HEX[k]] = (signed char)k;
    }
}

/* ---- the batch-record layout ---------------------------------------------------------------- */

#define MAX_PATH_NODES 64

/* What the manifest of a batch-signed record holds, read off its bytes. */
typedef struct {
    Py_ssize_t statement;     /* the statement's base64 text */
    Py_ssize_t statement_len;
    long long index;
    long long size;
    unsigned char path[MAX_PATH_NODES * 32];
    Py_ssize_t path_nodes;
    Py_ssize_t envelope;      /* the embedded batch envelope, an object */
    Py_ssize_t envelope_end;
    Py_ssize_t sidecar;       /* or the sidecar file's name (no escapes) */
    Py_ssize_t sidecar_len;
    Py_ssize_t root;          /* and the batch root, 64 lower-case hex digits */
} BatchLayout;

static inline int
expect(const unsigned char *s, Py_ssize_t *i, Py_ssize_t end, const char *word, Py_ssize_t len)
{
    if (end - *i < len || memcmp(s + *i, word, (size_t)len) != 0) {
        return 0;
    }
    *i += len;
    return 1;
}

#define EXPECT(word) expect(s, &i, end, word, (Py_ssize_t)(sizeof(word) - 1))

static int
uint_token(const unsigned char *s, Py_ssize_t *i, Py_ssize_t end, long long *value)
{
    Py_ssize_t start = *i;
    long long v = 0;
    while (*i < end && is_digit(s[*i]) && *i - start < 15) {
        v = v * 10 + (s[*i] - '0');
        (*i)++;
    }
    if (*i == start || (*i < end && is_digit(s[*i]))) {
        return 0;
    }
    *value = v;
    return 1;
}

/* The offset of the quote that closes the string whose text starts at s[i], in text already read
 * as strict JSON, or -1. */
static Py_ssize_t
string_end(const unsigned char *s, Py_ssize_t i, Py_ssize_t end)
{
    while (i < end) {
        const unsigned char *q = memchr(s + i, '"', (size_t)(end - i));
        if (q == NULL) {
            return -1;
        }
        Py_ssize_t at = q - s, back = at;
        while (back > i && s[back - 1] == '\\') {
            back--;
        }
        if ((at - back) % 2 == 0) {
            return at; /* not escaped */
        }
        i = at + 1;
    }
    return -1;
}

/* The end of the object that starts at s[i] == '{' in text already read as strict JSON, or -1. */
static Py_ssize_t
object_end(const unsigned char *s, Py_ssize_t i, Py_ssize_t end)
{
    int depth = 0;
    while (i < end) {
        unsigned char c = s[i++];
        if (c == '"') {
            i = string_end(s, i, end);
            if (i < 0) {
                return -1;
            }
            i++;
        }
        else if (c == '{' || c == '[') {
            depth++;
        }
        else if ((c == '}' || c == ']') && --depth == 0) {
            return i;
        }
    }
    return -1;
}

/* Whether the manifest bytes s[i..end) are exactly a layout the batch tagger writes:
 * {"statement":"B64","batch":{"index":N,"size":N,"path":["HEX64",...],"dsse":{...}}} or, with
 * the envelopes in a sidecar, ...,"path":[...],"sidecar":"NAME","root":"HEX64"}}, with no white
 * space, lower-case hex and no escape in the name. Any other manifest (valid or not) is read by
 * Python. */
static int
batch_layout(const unsigned char *s, Py_ssize_t i, Py_ssize_t end, BatchLayout *out)
{
    if (!EXPECT("{\"statement\":\"")) {
        return 0;
    }
    out->statement = i;
    const unsigned char *quote = memchr(s + i, '"', (size_t)(end - i));
    if (quote == NULL) {
        return 0;
    }
    i = quote - s; /* an escaped quote leaves a backslash in the text: not base64 */
    out->statement_len = i - out->statement;
    if (!EXPECT("\",\"batch\":{\"index\":") || !uint_token(s, &i, end, &out->index) ||
        !EXPECT(",\"size\":") || !uint_token(s, &i, end, &out->size) || !EXPECT(",\"path\":[")) {
        return 0;
    }
    out->path_nodes = 0;
    if (i < end && s[i] == '"') {
        for (;;) {
            if (end - i < 66 || s[i] != '"' || s[i + 65] != '"' ||
                out->path_nodes == MAX_PATH_NODES) {
                return 0;
            }
            unsigned char *node = out->path + 32 * out->path_nodes;
            const unsigned char *h = s + i + 1;
            int bad = 0;
            for (int j = 0; j < 32; j++) {
                int hi = hex_values[h[2 * j]], lo = hex_values[h[2 * j + 1]];
                bad |= hi | lo;
                node[j] = (unsigned char)(((unsigned int)hi << 4) | ((unsigned int)lo & 0x0F));
            }
            if (bad < 0) {
                return 0;
            }
            i += 66;
            out->path_nodes++;
            if (i < end && s[i] == ',') {
                i++;
                continue;
            }
            break;
        }
    }
    out->sidecar = -1;
    if (EXPECT("],\"sidecar\":\"")) {
        out->sidecar = i;
        i = plain_text_end(s, i, end);
        if (i < 0 || i >= end || s[i] != '"') {
            return 0;
        }
        out->sidecar_len = i - out->sidecar;
        if (!EXPECT("\",\"root\":\"") || end - i < 64) {
            return 0;
        }
        out->root = i;
        for (Py_ssize_t k = 0; k < 64; k++) {
            if (hex_values[s[i + k]] < 0) {
                return 0;
            }
        }
        i += 64;
        return EXPECT("\"}}") && i == end;
    }
    if (!EXPECT("],\"dsse\":") || i >= end || s[i] != '{') {
        return 0;
    }
    out->envelope = i;
    out->envelope_end = object_end(s, i, end);
    i = out->envelope_end;
    return i > 0 && EXPECT("}}") && i == end;
}

/* The record id of a statement whose bytes from `at` are DIGEST "},"name": NAME }]} with `hex`
 * as the digest and NAME a JSON string with no escape (valid UTF-8, no control character), or
 * NULL without an exception: Python reads every other statement. */
static PyObject *
plain_name(const unsigned char *t, Py_ssize_t at, Py_ssize_t n, const char *hex)
{
    static const char name_key[] = "\"},\"name\":\"";
    static const char tail[] = "\"}]}";
    Py_ssize_t key_len = (Py_ssize_t)sizeof(name_key) - 1, tail_len = (Py_ssize_t)sizeof(tail) - 1;
    Py_ssize_t start = at + 64 + key_len, stop = n - tail_len;
    if (stop < start || memcmp(t + at, hex, 64) != 0 ||
        memcmp(t + at + 64, name_key, (size_t)key_len) != 0 ||
        memcmp(t + stop, tail, (size_t)tail_len) != 0) {
        return NULL;
    }
    if (plain_text_end(t, start, stop) != stop) {
        return NULL; /* a quote, a backslash, a control character or broken UTF-8 */
    }
    return PyUnicode_DecodeUTF8((const char *)t + start, stop - start, "strict");
}

PyDoc_STRVAR(scan_batch_doc,
"scan_batch(line, max_depth, number_writer, prefix=None, /)\n--\n\n"
"The native reader on `line`, for a verifier: None when the strict reference reader must decide;\n"
"else the hex SHA-256 of the record's canonical content and the span of its \"_provenance\"\n"
"value (-1, -1 when absent), and, when that value is exactly the layout the batch tagger writes,\n"
"a tuple of its fields: the decoded statement, its Merkle leaf hash (SHA-256 of 0x00 and the\n"
"statement), the leaf index, the tree size, the audit path as the concatenated 32-byte nodes,\n"
"the bytes of the embedded batch envelope (or, in the sidecar layout, the sidecar's name and the\n"
"root, as str), and (record id, `prefix`) when the statement is\n"
"`prefix`, the content digest and an id without escapes (else None).");

static PyObject *
scan_batch(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 3 && nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "scan_batch() takes 3 or 4 arguments");
        return NULL;
    }
    PyObject *prefix = nargs == 4 && args[3] != Py_None ? args[3] : NULL;
    if (prefix != NULL && !PyBytes_Check(prefix)) {
        PyErr_SetString(PyExc_TypeError, "scan_batch() needs a bytes prefix");
        return NULL;
    }
    Reader r;
    int rc = read_line(&r, args[0], args[1], args[2], NULL);
    unsigned char digest[32];
    char hex[64];
    if (rc == OK) {
        rc = sha256_two(r.out.data, (size_t)r.out.len, NULL, 0, digest);
    }
    if (rc != OK) {
        reader_free(&r);
        return rc == BAIL ? Py_NewRef(Py_None) : NULL;
    }
    to_hex(digest, 32, hex);
    BatchLayout b;
    Py_ssize_t size = -1;
    if (r.prov_start >= 0 && batch_layout(r.s, r.prov_start, r.prov_end, &b)) {
        size = b64_size(r.s + b.statement, b.statement_len);
    }
    PyObject *statement = size < 0 ? NULL : PyBytes_FromStringAndSize(NULL, size);
    PyObject *fields = NULL;
    if (statement != NULL) {
        unsigned char *text = (unsigned char *)PyBytes_AS_STRING(statement);
        unsigned char leaf[32];
        static const unsigned char leaf_prefix = 0x00;
        if (b64_decode(r.s + b.statement, b.statement_len, text) == OK &&
            sha256_two(&leaf_prefix, 1, text, (size_t)size, leaf) == OK) {
            PyObject *name = NULL;
            if (prefix != NULL && PyBytes_GET_SIZE(prefix) <= size &&
                memcmp(text, PyBytes_AS_STRING(prefix), (size_t)PyBytes_GET_SIZE(prefix)) == 0) {
                name = plain_name(text, PyBytes_GET_SIZE(prefix), size, hex);
            }
            if (!PyErr_Occurred()) {
                PyObject *known = name ? PyTuple_Pack(2, name, prefix) : Py_NewRef(Py_None);
                PyObject *batch =
                    b.sidecar >= 0
                        ? Py_BuildValue("(s#s#)", (const char *)r.s + b.sidecar, b.sidecar_len,
                                        (const char *)r.s + b.root, (Py_ssize_t)64)
                        : PyBytes_FromStringAndSize((const char *)r.s + b.envelope,
                                                    b.envelope_end - b.envelope);
                if (known == NULL || batch == NULL) {
                    Py_XDECREF(known);
                }
                else { /* "N" hands `known` over, also when building fails */
                    fields = Py_BuildValue("(Oy#LLy#ON)", statement, (const char *)leaf,
                                           (Py_ssize_t)32, b.index, b.size,
                                           (const char *)b.path, b.path_nodes * 32, batch,
                                           known);
                }
                Py_XDECREF(batch);
            }
            Py_XDECREF(name);
        }
        Py_DECREF(statement);
    }
    PyObject *result = NULL;
    if (!PyErr_Occurred()) {
        result = fields == NULL
                     ? Py_BuildValue("(s#nn)", hex, (Py_ssize_t)64, r.prov_start, r.prov_end)
                     : Py_BuildValue("(s#nnN)", hex, (Py_ssize_t)64, r.prov_start, r.prov_end,
                                     fields);
    }
    else {
        Py_XDECREF(fields);
    }
    reader_free(&r);
    return result;
}

/* ---- batch tagging -------------------------------------------------------------------------- */

static const char B64_ALPHABET[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with padding (RFC 4648 §4) of n bytes, appended to b. */
static int
append_b64(Buf *b, const unsigned char *d, Py_ssize_t n)
{
    if (reserve(b, (n + 2) / 3 * 4) != OK) {
        return FAIL;
    }
    char *o = b->data + b->len;
    Py_ssize_t k = 0;
    for (; k + 3 <= n; k += 3) {
        unsigned int v = ((unsigned int)d[k] << 16) | ((unsigned int)d[k + 1] << 8) | d[k + 2];
        *o++ = B64_ALPHABET[v >> 18];
        *o++ = B64_ALPHABET[(v >> 12) & 63];
        *o++ = B64_ALPHABET[(v >> 6) & 63];
        *o++ = B64_ALPHABET[v & 63];
    }
    if (k < n) {
        unsigned int v = (unsigned int)d[k] << 16;
        if (k + 1 < n) {
            v |= (unsigned int)d[k + 1] << 8;
        }
        *o++ = B64_ALPHABET[v >> 18];
        *o++ = B64_ALPHABET[(v >> 12) & 63];
        *o++ = k + 1 < n ? B64_ALPHABET[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    b->len = o - b->data;
    return OK;
}

#define APPEND_TEXT(b, text) append((b), (text), (Py_ssize_t)(sizeof(text) - 1))

static int
append_uint(Buf *b, Py_ssize_t v)
{
    char text[32];
    int len = snprintf(text, sizeof(text), "%zd", v);
    return append(b, text, len);
}

/* One record of a task: where its line is, its statement in the task's statement buffer and its
 * Merkle leaf hash. A record has an id, so its content is never {}: it keeps every member and
 * "_provenance" comes after them. */
typedef struct {
    Py_ssize_t start;
    Py_ssize_t end;
    Py_ssize_t statement;
    Py_ssize_t statement_len;
    unsigned char leaf[32];
} Tagged;

static inline int
is_strip_space(unsigned char c)
{
    /* what bytes.rstrip() and bytes.isspace() take for white space */
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\x0b' || c == '\x0c';
}

/* The canonical JSON string of a record's name from the span of its id value, when the id is a
 * string without escapes or an integer token of up to 15 digits (as `str(int)` writes it); else
 * 0: the tagger in Python names the record. */
static int
id_name(Buf *out, const unsigned char *s, Py_ssize_t start, Py_ssize_t end)
{
    if (start < 0 || end <= start) {
        return 0;
    }
    if (s[start] == '"') {
        if (plain_text_end(s, start + 1, end - 1) != end - 1) {
            return 0; /* an escape: the canonical form is not the bytes as they stand */
        }
        return append(out, s + start, end - start) == OK ? 1 : -1;
    }
    Py_ssize_t i = start;
    int negative = s[i] == '-';
    i += negative;
    if (i >= end || end - i > 15) {
        return 0;
    }
    for (Py_ssize_t k = i; k < end; k++) {
        if (!is_digit(s[k])) {
            return 0;
        }
    }
    if (s[i] == '0' && end - i > 1) {
        return 0;
    }
    int zero = s[i] == '0';
    if (append_byte(out, '"') != OK || (negative && !zero && append_byte(out, '-') != OK) ||
        append(out, s + i, end - i) != OK || append_byte(out, '"') != OK) {
        return -1;
    }
    return 1;
}

static const char NAME_KEY[] = "\"},\"name\":";
static const char STATEMENT_END[] = "}]}";

/* Read and state every record of `data`: 1 when all were read natively, 0 when one must go the
 * Python way, FAIL with an exception set. */
static int
state_records(PyObject *data, PyObject *depth, PyObject *es6, PyObject *key, PyObject *prefix,
              Tagged **records, Py_ssize_t *count, Buf *statements)
{
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(data);
    Py_ssize_t n = PyBytes_GET_SIZE(data), cap = 0, i = 0;
    const char *head = PyBytes_AS_STRING(prefix);
    Py_ssize_t head_len = PyBytes_GET_SIZE(prefix);
    while (i <= n) {
        const unsigned char *nl = i < n ? memchr(s + i, '\n', (size_t)(n - i)) : NULL;
        Py_ssize_t stop = nl ? nl - s : n, end = stop;
        Py_ssize_t next = stop + 1;
        while (end > i && is_strip_space(s[end - 1])) {
            end--;
        }
        if (end == i) {
            i = next;
            continue;
        }
        if (*count == cap) {
            cap = cap ? cap * 2 : 1024;
            Tagged *more = PyMem_Realloc(*records, (size_t)cap * sizeof(Tagged));
            if (more == NULL) {
                PyErr_NoMemory();
                return FAIL;
            }
            *records = more;
        }
        Reader r;
        int rc = read_span(&r, s + i, end - i, depth, es6, key);
        Tagged *t = *records + *count;
        unsigned char digest[32];
        char hex[64];
        if (rc == OK && r.prov_start >= 0) {
            rc = BAIL; /* a record with a manifest: replaced or refused in Python */
        }
        if (rc == OK) {
            rc = sha256_two(r.out.data, (size_t)r.out.len, NULL, 0, digest);
        }
        if (rc == OK) {
            t->start = i;
            t->end = end;
            t->statement = statements->len;
            to_hex(digest, 32, hex);
            if (append(statements, head, head_len) != OK || append(statements, hex, 64) != OK ||
                append(statements, NAME_KEY, (Py_ssize_t)sizeof(NAME_KEY) - 1) != OK) {
                rc = FAIL;
            }
        }
        if (rc == OK) {
            int named = id_name(statements, r.s, r.pick_start, r.pick_end);
            rc = named < 0 ? FAIL : named == 0 ? BAIL : OK;
        }
        if (rc == OK && append(statements, STATEMENT_END,
                               (Py_ssize_t)sizeof(STATEMENT_END) - 1) != OK) {
            rc = FAIL;
        }
        reader_free(&r);
        if (rc != OK) {
            return rc == BAIL ? 0 : FAIL;
        }
        t->statement_len = statements->len - t->statement;
        (*count)++;
        i = next;
    }
    /* Leaf hashes once every statement is written (the buffer may have moved while growing). */
    static const unsigned char leaf_prefix = 0x00;
    for (Py_ssize_t k = 0; k < *count; k++) {
        Tagged *t = *records + k;
        if (sha256_two(&leaf_prefix, 1, statements->data + t->statement,
                       (size_t)t->statement_len, t->leaf) != OK) {
            return FAIL;
        }
    }
    return 1;
}

/* Every level of the RFC 9162 tree over the `size` leaves of `records` into `nodes` (level 0 the
 * leaves; an odd last node carried up); `starts[d]` is where level d begins, `levels` their
 * count. */
static int
tree(const Tagged *records, Py_ssize_t size, unsigned char *nodes, Py_ssize_t *starts,
     int *levels)
{
    for (Py_ssize_t k = 0; k < size; k++) {
        memcpy(nodes + 32 * k, records[k].leaf, 32);
    }
    Py_ssize_t width = size, at = 0;
    int depth = 0;
    starts[0] = 0;
    while (width > 1) {
        Py_ssize_t up = at + width;
        static const unsigned char node_prefix = 0x01;
        for (Py_ssize_t k = 0; k + 1 < width; k += 2) {
            /* the pair is adjacent: 0x01 || left || right */
            if (sha256_two(&node_prefix, 1, nodes + 32 * (at + k), 64,
                           nodes + 32 * (up + k / 2)) != OK) {
                return FAIL;
            }
        }
        if (width & 1) {
            memcpy(nodes + 32 * (up + width / 2), nodes + 32 * (at + width - 1), 32);
        }
        at = up;
        width = (width + 1) / 2;
        starts[++depth] = at;
    }
    *levels = depth + 1;
    return OK;
}

PyDoc_STRVAR(tag_batch_doc,
"tag_batch(data, max_depth, number_writer, id_key, prefix, batch_size, finish, /)\n--\n\n"
"Batch-sign the records of `data` (whole JSONL lines) as the file tagger does in Python: each\n"
"record's statement is `prefix` (the canonical statement bytes before the subject digest), its\n"
"content digest and its id (the top-level member `id_key`); every `batch_size` consecutive\n"
"records form an RFC 9162 tree, `finish(root, size)` returns the bytes each of its records ends\n"
"with after the audit path (the envelope or sidecar reference, closing the line), and every\n"
"record becomes its line with \"_provenance\" as its last member. Returns (output, count), or\n"
"None when a record must be read in Python: not read natively, already holding a manifest, or\n"
"with an id that is not a string without escapes or an integer of up to 15 digits.");

static PyObject *
tag_batch(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "tag_batch() takes 7 arguments");
        return NULL;
    }
    PyObject *data = args[0], *prefix = args[4], *finish = args[6];
    Py_ssize_t batch_size = PyLong_AsSsize_t(args[5]);
    if (batch_size == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (!PyBytes_Check(data) || !PyBytes_Check(prefix) || !PyUnicode_Check(args[3]) ||
        batch_size < 1 || batch_size > ((Py_ssize_t)1 << 30)) {
        PyErr_SetString(PyExc_TypeError, "tag_batch() needs bytes, a str key and a batch size");
        return NULL;
    }
    Tagged *records = NULL;
    Py_ssize_t count = 0;
    Buf statements = {0}, out = {0};
    unsigned char *nodes = NULL;
    char *hexes = NULL;
    PyObject *result = NULL;
    int rc = state_records(data, args[1], args[2], args[3], prefix, &records, &count,
                           &statements);
    if (rc != 1) {
        if (rc == 0) {
            result = Py_NewRef(Py_None);
        }
        goto done;
    }
    const char *s = PyBytes_AS_STRING(data);
    Py_ssize_t most = count < batch_size ? count : batch_size;
    /* every level of the tree: at most 2 * most nodes, and one more per level for an odd end */
    Py_ssize_t room = 2 * most + 64;
    nodes = PyMem_Malloc((size_t)room * 32);
    hexes = PyMem_Malloc((size_t)room * 66); /* each node as a JSON string of its hex */
    if ((nodes == NULL || hexes == NULL) && most > 0) {
        PyErr_NoMemory();
        goto done;
    }
    if (reserve(&out, PyBytes_GET_SIZE(data) + count * (statements.len / (count ? count : 1)) * 3) !=
        OK) {
        goto done;
    }
    for (Py_ssize_t first = 0; first < count; first += batch_size) {
        Py_ssize_t size = count - first < batch_size ? count - first : batch_size;
        Py_ssize_t starts[64];
        int levels = 0;
        if (tree(records + first, size, nodes, starts, &levels) != OK) {
            goto done;
        }
        Py_ssize_t total = starts[levels - 1] + 1;
        for (Py_ssize_t k = 0; k < total; k++) { /* once per node, not once per path step */
            char *h = hexes + 66 * k;
            h[0] = h[65] = '"';
            to_hex(nodes + 32 * k, 32, h + 1);
        }
        PyObject *root = PyBytes_FromStringAndSize(
            (const char *)nodes + 32 * starts[levels - 1], 32);
        if (root == NULL) {
            goto done;
        }
        PyObject *tail = PyObject_CallFunction(finish, "On", root, size);
        Py_DECREF(root);
        if (tail == NULL) {
            goto done;
        }
        if (!PyBytes_Check(tail)) {
            Py_DECREF(tail);
            PyErr_SetString(PyExc_TypeError, "finish() must return bytes");
            goto done;
        }
        int bad = 0;
        for (Py_ssize_t k = 0; k < size && !bad; k++) {
            const Tagged *t = records + first + k;
            bad |= append(&out, s + t->start, t->end - t->start - 1) != OK;
            bad |= APPEND_TEXT(&out, ",\"_provenance\":{\"statement\":\"") != OK;
            bad |= append_b64(&out, (const unsigned char *)statements.data + t->statement,
                              t->statement_len) != OK;
            bad |= APPEND_TEXT(&out, "\",\"batch\":{\"index\":") != OK;
            bad |= append_uint(&out, k) != OK;
            bad |= APPEND_TEXT(&out, ",\"size\":") != OK;
            bad |= append_uint(&out, size) != OK;
            bad |= APPEND_TEXT(&out, ",\"path\":[") != OK;
            Py_ssize_t p = k, width = size;
            int steps = 0;
            for (int d = 0; d + 1 < levels && !bad; d++) {
                Py_ssize_t sibling = p ^ 1;
                if (sibling < width) {
                    bad |= (steps++ && append_byte(&out, ',') != OK) ||
                           append(&out, hexes + 66 * (starts[d] + sibling), 66) != OK;
                }
                p >>= 1;
                width = (width + 1) / 2;
            }
            bad |= append_byte(&out, ']') != OK;
            bad |= append(&out, PyBytes_AS_STRING(tail), PyBytes_GET_SIZE(tail)) != OK;
        }
        Py_DECREF(tail);
        if (bad) {
            goto done;
        }
    }
    result = Py_BuildValue("(y#n)", out.data ? out.data : "", out.len, count);
done:
    PyMem_Free(records);
    PyMem_Free(statements.data);
    PyMem_Free(out.data);
    PyMem_Free(nodes);
    PyMem_Free(hexes);
    return result;
}

PyDoc_STRVAR(line_end_doc,
"line_end(data, start, count, /)\n--\n\n"
"Where the `count`-th newline of `data` from offset `start` on is, and 0; or -1 and how many\n"
"newlines are still wanted after the end of `data`.");

static PyObject *
line_end(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    Py_ssize_t start, count;
    if (nargs != 3 || !PyBytes_Check(args[0]) ||
        (start = PyLong_AsSsize_t(args[1])) < 0 || (count = PyLong_AsSsize_t(args[2])) < 1) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "line_end() needs bytes, a start and a count");
        }
        return NULL;
    }
    const char *s = PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    while (start < n) {
        const char *nl = memchr(s + start, '\n', (size_t)(n - start));
        if (nl == NULL) {
            break;
        }
        if (--count == 0) {
            return Py_BuildValue("(nn)", (Py_ssize_t)(nl - s), (Py_ssize_t)0);
        }
        start = nl - s + 1;
    }
    return Py_BuildValue("(nn)", (Py_ssize_t)-1, count);
}

PyDoc_STRVAR(keep_freed_memory_doc,
"keep_freed_memory()\n--\n\n"
"Have the C allocator keep freed memory for reuse: buffers up to 32 MiB come from the heap\n"
"rather than from their own mappings, and the heap is not trimmed below 1 GiB of free memory\n"
"(glibc's M_MMAP_THRESHOLD and M_TRIM_THRESHOLD). For worker processes that allocate buffers of\n"
"about the same size again and again; a no-op where the C library has no such settings.");

static PyObject *
keep_freed_memory(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"keep_freed_memory", keep_freed_memory, METH_NOARGS, keep_freed_memory_doc},
    {"line_end", (PyCFunction)(void (*)(void))line_end, METH_FASTCALL, line_end_doc},
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL, scan_doc},
    {"scan_batch", (PyCFunction)(void (*)(void))scan_batch, METH_FASTCALL, scan_batch_doc},
    {"tag_batch", (PyCFunction)(void (*)(void))tag_batch, METH_FASTCALL, tag_batch_doc},
    {"b64decode", b64decode, METH_O, b64decode_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "provenance._native",
    "Native fast paths of the strict record reader (see provenance.canonical), of reading a "
    "batch-signed record's manifest (see provenance.verify) and of canonical base64 "
    "decoding.",
    0,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    b64_init();
    hex_init();
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    sha256_ctx = EVP_MD_CTX_new();
    if (sha256_md == NULL || sha256_ctx == NULL) {
        PyErr_SetString(PyExc_ImportError, "libcrypto has no SHA-256");
        return NULL;
    }
    return PyModuleDef_Init(&module);
}
