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
        for (;;) {
            i = plain_run(s, i, n);
            if (i >= n || s[i] < 0x80) {
                break;
            }
            Py_ssize_t len = utf8_length(s, i, n);
            if (len == 0) {
                return BAIL;
            }
            i += len;
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
    if (!PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "scan() needs a bytes line");
        return NULL;
    }
    long max_depth = PyLong_AsLong(args[1]);
    if (max_depth == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (max_depth < 0 || max_depth > 100000) {
        PyErr_SetString(PyExc_ValueError, "max_depth must be between 0 and 100000");
        return NULL;
    }
    Reader r;
    memset(&r, 0, sizeof(r));
    r.s = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    r.n = PyBytes_GET_SIZE(args[0]);
    r.max_depth = (int)max_depth;
    r.es6 = args[2];
    r.prov_start = -1;
    r.prov_end = -1;
    r.pick_start = -1;
    r.pick_end = -1;
    if (nargs == 4) {
        if (!PyUnicode_Check(args[3])) {
            PyErr_SetString(PyExc_TypeError, "scan() needs a str key");
            return NULL;
        }
        r.pick = PyUnicode_AsUTF8AndSize(args[3], &r.pick_len);
        if (r.pick == NULL) {
            return NULL;
        }
    }
    PyObject *result = NULL;
    int rc = reserve(&r.out, r.n + 16);
    if (rc == OK) {
        skip_space(&r);
        rc = (r.i < r.n && r.s[r.i] == '{') ? object(&r, 1) : BAIL;
    }
    if (rc == OK) {
        skip_space(&r);
        if (r.i != r.n) {
            rc = BAIL; /* trailing data */
        }
    }
    if (rc == OK) {
        result = nargs == 3 ? Py_BuildValue("(y#nn)", r.out.data, r.out.len, r.prov_start,
                                            r.prov_end)
                            : Py_BuildValue("(y#nnnn)", r.out.data, r.out.len, r.prov_start,
                                            r.prov_end, r.pick_start, r.pick_end);
    }
    else if (rc == BAIL) {
        result = Py_NewRef(Py_None);
    }
    PyMem_Free(r.out.data);
    PyMem_Free(r.keys.data);
    PyMem_Free(r.scratch.data);
    PyMem_Free(r.members.items);
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
    if (n % 4 != 0) {
        Py_RETURN_NONE;
    }
    if (n == 0) {
        return PyBytes_FromStringAndSize(NULL, 0);
    }
    int pad = s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
    Py_ssize_t size = n / 4 * 3 - pad;
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (out == NULL) {
        return NULL;
    }
    unsigned char *d = (unsigned char *)PyBytes_AS_STRING(out);
    Py_ssize_t whole = n - 4; /* every quad but the last */
    for (Py_ssize_t i = 0; i < whole; i += 4) {
        int a = b64_values[s[i]], b = b64_values[s[i + 1]];
        int c = b64_values[s[i + 2]], e = b64_values[s[i + 3]];
        if ((a | b | c | e) < 0) {
            Py_DECREF(out);
            Py_RETURN_NONE;
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
        Py_DECREF(out);
        Py_RETURN_NONE;
    }
    unsigned char last[3];
    b64_quad(last, a, b, c, e);
    memcpy(d, last, (size_t)(3 - pad));
    return out;
}

static PyMethodDef methods[] = {
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL, scan_doc},
    {"b64decode", b64decode, METH_O, b64decode_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "provenance._native",
    "Native fast paths of the strict record reader (see provenance.canonical) and of canonical "
    "base64 decoding (see provenance.verification).",
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
    return PyModuleDef_Init(&module);
}
