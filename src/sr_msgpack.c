/*
 * sr_msgpack.c — a small MessagePack codec between wire bytes and jansson values (see
 * sr_msgpack.h for the value mapping).
 *
 * DESIGN: our own ~400 lines rather than Debian's msgpack-c (libmsgpack-dev). The server never
 * keeps MessagePack values: inbound frames become json_t for the hub and outbound json_t become
 * bytes, so msgpack-c's object tree would only be an intermediate to walk; and its unpacker
 * allocates an array's or map's declared element count before reading the elements, so a frame
 * of six bytes can ask for 64 GiB. Here the decoder checks every declared count against the bytes
 * that remain (each element takes at least one byte) before it allocates anything, limits nesting
 * to SR_MSGPACK_MAX_DEPTH, and treats every malformed input as an error, never an abort. The
 * encoder writes the smallest encoding of each value, as the MessagePack spec asks and as
 * MessagePack-CSharp does. Big-endian reads and writes are spelled out byte by byte: no unaligned
 * access, no dependence on the host's byte order.
 */
#include "config.h"

#include "sr_msgpack.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sr_mem.h"

/* ---------------------------------------------------------------------------------------------
 * Decoding
 */

typedef struct reader {
    const unsigned char *p, *end;
    int depth;
    char *error;
    size_t error_cap;
} reader;

static json_t *fail(reader *r, const char *why)
{
    if (r->error && r->error_cap && !r->error[0])
        snprintf(r->error, r->error_cap, "%s", why);
    return NULL;
}

static size_t remaining(const reader *r)
{
    return (size_t)(r->end - r->p);
}

/* Reads an n-byte big-endian unsigned integer; 0 when the input ends first. */
static int read_be(reader *r, size_t n, uint64_t *v)
{
    if (remaining(r) < n)
        return 0;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++)
        x = x << 8 | r->p[i];
    r->p += n;
    *v = x;
    return 1;
}

static json_t *decode_value(reader *r);

static json_t *decode_string(reader *r, uint64_t n)
{
    if (remaining(r) < n)
        return fail(r, "truncated string");
    json_t *s = json_stringn((const char *)r->p, (size_t)n);
    if (!s)
        return fail(r, "string is not valid UTF-8");
    r->p += n;
    return s;
}

static json_t *decode_array(reader *r, uint64_t n)
{
    if (n > remaining(r))
        return fail(r, "array longer than the input");
    if (++r->depth > SR_MSGPACK_MAX_DEPTH)
        return fail(r, "nesting too deep");
    json_t *a = json_array();
    for (uint64_t i = 0; i < n; i++) {
        json_t *v = decode_value(r);
        if (!v || json_array_append_new(a, v) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    r->depth--;
    return a;
}

static json_t *decode_map(reader *r, uint64_t n)
{
    if (n > remaining(r) / 2)
        return fail(r, "map longer than the input");
    if (++r->depth > SR_MSGPACK_MAX_DEPTH)
        return fail(r, "nesting too deep");
    json_t *o = json_object();
    for (uint64_t i = 0; i < n; i++) {
        json_t *k = decode_value(r);
        if (!k) {
            json_decref(o);
            return NULL;
        }
        const char *key = json_string_value(k);
        if (!key || strlen(key) != json_string_length(k) || json_object_get(o, key)) {
            json_decref(k);
            json_decref(o);
            return fail(r, "map keys must be distinct strings without NUL");
        }
        json_t *v = decode_value(r);
        if (!v || json_object_set_new(o, key, v) != 0) {
            json_decref(k);
            json_decref(o);
            return NULL;
        }
        json_decref(k);
    }
    r->depth--;
    return o;
}

static json_t *wrap(const char *key, const char *text)
{
    return json_pack("{s:s}", key, text);
}

static json_t *decode_binary(reader *r, uint64_t n)
{
    if (remaining(r) < n)
        return fail(r, "truncated bin");
    size_t cap = sodium_base64_ENCODED_LEN((size_t)n, sodium_base64_VARIANT_ORIGINAL);
    char *text = sr_xmalloc(cap);
    sodium_bin2base64(text, cap, r->p, (size_t)n, sodium_base64_VARIANT_ORIGINAL);
    r->p += n;
    json_t *v = wrap(SR_JSON_BINARY_KEY, text);
    free(text);
    return v;
}

/* The timestamp extension (type -1) in its three sizes; anything else is refused. */
static json_t *decode_extension(reader *r, uint64_t n)
{
    uint64_t type, a, b;
    if (!read_be(r, 1, &type) || remaining(r) < n)
        return fail(r, "truncated ext");
    if (type != 0xff)
        return fail(r, "unsupported MessagePack extension type");
    long long seconds;
    long nanoseconds;
    if (n == 4 && read_be(r, 4, &a)) {
        seconds = (long long)a;
        nanoseconds = 0;
    } else if (n == 8 && read_be(r, 8, &a)) {
        nanoseconds = (long)(a >> 34);
        seconds = (long long)(a & 0x3ffffffffULL);
    } else if (n == 12 && read_be(r, 4, &a) && read_be(r, 8, &b)) {
        nanoseconds = (long)a;
        seconds = (long long)b;
    } else {
        return fail(r, "malformed timestamp");
    }
    char text[64];
    if (nanoseconds > 999999999L ||
        sr_msgpack_format_iso8601(seconds, nanoseconds, text, sizeof text) != 0)
        return fail(r, "timestamp out of range");
    return wrap(SR_JSON_TIMESTAMP_KEY, text);
}

static json_t *decode_real(reader *r, double d)
{
    if (!isfinite(d))
        return fail(r, "non-finite float");
    return json_real(d);
}

static json_t *decode_value(reader *r)
{
    uint64_t b, n;
    if (!read_be(r, 1, &b))
        return fail(r, "truncated value");
    if (b <= 0x7f)
        return json_integer((json_int_t)b);
    if (b >= 0xe0)
        return json_integer((json_int_t)b - 256);
    if (b <= 0x8f)
        return decode_map(r, b & 0x0f);
    if (b <= 0x9f)
        return decode_array(r, b & 0x0f);
    if (b <= 0xbf)
        return decode_string(r, b & 0x1f);
    switch (b) {
    case 0xc0:
        return json_null();
    case 0xc2:
        return json_false();
    case 0xc3:
        return json_true();
    case 0xc4: case 0xc5: case 0xc6:
        if (!read_be(r, (size_t)1 << (b - 0xc4), &n))
            return fail(r, "truncated bin length");
        return decode_binary(r, n);
    case 0xc7: case 0xc8: case 0xc9:
        if (!read_be(r, (size_t)1 << (b - 0xc7), &n))
            return fail(r, "truncated ext length");
        return decode_extension(r, n);
    case 0xca: {
        if (!read_be(r, 4, &n))
            return fail(r, "truncated float");
        uint32_t bits = (uint32_t)n;
        float f;
        memcpy(&f, &bits, sizeof f);
        return decode_real(r, f);
    }
    case 0xcb: {
        if (!read_be(r, 8, &n))
            return fail(r, "truncated float");
        double d;
        memcpy(&d, &n, sizeof d);
        return decode_real(r, d);
    }
    case 0xcc: case 0xcd: case 0xce: case 0xcf:
        if (!read_be(r, (size_t)1 << (b - 0xcc), &n))
            return fail(r, "truncated integer");
        /* JSON integers here are int64: a larger uint64 keeps its magnitude as a real. */
        return n > INT64_MAX ? json_real((double)n) : json_integer((json_int_t)n);
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        size_t width = (size_t)1 << (b - 0xd0);
        if (!read_be(r, width, &n))
            return fail(r, "truncated integer");
        if (width < 8 && (n >> (width * 8 - 1)))
            n |= ~(uint64_t)0 << (width * 8); /* sign-extend */
        return json_integer((json_int_t)(int64_t)n);
    }
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
        return decode_extension(r, (uint64_t)1 << (b - 0xd4));
    case 0xd9: case 0xda: case 0xdb:
        if (!read_be(r, (size_t)1 << (b - 0xd9), &n))
            return fail(r, "truncated string length");
        return decode_string(r, n);
    case 0xdc: case 0xdd:
        if (!read_be(r, b == 0xdc ? 2 : 4, &n))
            return fail(r, "truncated array length");
        return decode_array(r, n);
    case 0xde: case 0xdf:
        if (!read_be(r, b == 0xde ? 2 : 4, &n))
            return fail(r, "truncated map length");
        return decode_map(r, n);
    default: /* 0xc1 is never used */
        return fail(r, "invalid MessagePack type byte");
    }
}

json_t *sr_msgpack_decode(const void *p, size_t len, char *error, size_t error_cap)
{
    reader r = {p, (const unsigned char *)p + len, 0, error, error_cap};
    if (error && error_cap)
        error[0] = '\0';
    json_t *v = decode_value(&r);
    if (v && r.p != r.end) {
        json_decref(v);
        return fail(&r, "bytes after the MessagePack value");
    }
    if (!v)
        fail(&r, "invalid MessagePack value");
    return v;
}

/* ---------------------------------------------------------------------------------------------
 * Encoding
 */

/* Appends @p v as an @p n-byte big-endian number. */
static void put_raw_be(sr_buf *out, uint64_t v, size_t n)
{
    unsigned char b[8];
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
    sr_buf_append(out, b, n);
}

/* A type byte followed by an @p n-byte big-endian number. */
static void put_be(sr_buf *out, unsigned char type, uint64_t v, size_t n)
{
    sr_buf_appendc(out, (char)type);
    put_raw_be(out, v, n);
}

/* A length header: the fix form when @p fix_max allows, else the 8/16/32-bit form whose type
 * bytes are @p first8 (0 = no 8-bit form, as for arrays and maps) and @p first16 (the 32-bit
 * form's is the next byte). */
static void put_length(sr_buf *out, uint64_t n, unsigned char fix, uint64_t fix_max,
                       unsigned char first8, unsigned char first16)
{
    if (fix && n <= fix_max)
        sr_buf_appendc(out, (char)(fix | n));
    else if (first8 && n <= 0xff)
        put_be(out, first8, n, 1);
    else if (n <= 0xffff)
        put_be(out, first16, n, 2);
    else
        put_be(out, (unsigned char)(first16 + 1), n, 4);
}

void sr_msgpack_encode_array_header(sr_buf *out, size_t n)
{
    put_length(out, n, 0x90, 15, 0, 0xdc);
}

static void put_string(sr_buf *out, const char *s, size_t n)
{
    put_length(out, n, 0xa0, 31, 0xd9, 0xda);
    sr_buf_append(out, s, n);
}

static void put_integer(sr_buf *out, json_int_t v)
{
    if (v >= 0) {
        uint64_t u = (uint64_t)v;
        if (u <= 0x7f)
            sr_buf_appendc(out, (char)u);
        else if (u <= 0xff)
            put_be(out, 0xcc, u, 1);
        else if (u <= 0xffff)
            put_be(out, 0xcd, u, 2);
        else if (u <= 0xffffffffULL)
            put_be(out, 0xce, u, 4);
        else
            put_be(out, 0xcf, u, 8);
    } else if (v >= -32) {
        sr_buf_appendc(out, (char)(unsigned char)(v & 0xff));
    } else if (v >= INT8_MIN) {
        put_be(out, 0xd0, (uint64_t)v, 1);
    } else if (v >= INT16_MIN) {
        put_be(out, 0xd1, (uint64_t)v, 2);
    } else if (v >= INT32_MIN) {
        put_be(out, 0xd2, (uint64_t)v, 4);
    } else {
        put_be(out, 0xd3, (uint64_t)v, 8);
    }
}

/* bin for a valid base64 wrapper; 0 when the text is not base64 (then the map is written). */
static int put_binary(sr_buf *out, const char *text)
{
    size_t len = strlen(text), n = 0;
    unsigned char *bytes = sr_xmalloc(len / 4 * 3 + 3);
    const char *end = NULL;
    int ok = sodium_base642bin(bytes, len / 4 * 3 + 3, text, len, NULL, &n, &end,
                               sodium_base64_VARIANT_ORIGINAL) == 0 &&
             end == text + len;
    if (ok) {
        put_length(out, n, 0, 0, 0xc4, 0xc5);
        sr_buf_append(out, bytes, n);
    }
    free(bytes);
    return ok;
}

/* The smallest of the three timestamp layouts that holds the instant. */
static int put_timestamp(sr_buf *out, const char *text)
{
    long long s;
    long ns;
    if (sr_msgpack_parse_iso8601(text, &s, &ns) != 0)
        return 0;
    if (ns == 0 && s >= 0 && s <= 0xffffffffLL) {
        put_be(out, 0xd6, 0xff, 1); /* fixext 4, type -1 */
        put_raw_be(out, (uint64_t)s, 4);
    } else if (s >= 0 && s < (1LL << 34)) {
        put_be(out, 0xd7, 0xff, 1); /* fixext 8: 30 bits of nanoseconds, 34 of seconds */
        put_raw_be(out, ((uint64_t)ns << 34) | (uint64_t)s, 8);
    } else {
        put_be(out, 0xc7, 12, 1); /* ext 8 with 12 bytes */
        sr_buf_appendc(out, (char)0xff);
        put_raw_be(out, (uint64_t)ns, 4);
        put_raw_be(out, (uint64_t)s, 8);
    }
    return 1;
}

void sr_msgpack_encode(sr_buf *out, const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_NULL:
        sr_buf_appendc(out, (char)0xc0);
        return;
    case JSON_FALSE:
        sr_buf_appendc(out, (char)0xc2);
        return;
    case JSON_TRUE:
        sr_buf_appendc(out, (char)0xc3);
        return;
    case JSON_INTEGER:
        put_integer(out, json_integer_value(value));
        return;
    case JSON_REAL: {
        double d = json_real_value(value);
        uint64_t bits;
        memcpy(&bits, &d, sizeof bits);
        put_be(out, 0xcb, bits, 8);
        return;
    }
    case JSON_STRING:
        put_string(out, json_string_value(value), json_string_length(value));
        return;
    case JSON_ARRAY: {
        size_t n = json_array_size(value);
        sr_msgpack_encode_array_header(out, n);
        for (size_t i = 0; i < n; i++)
            sr_msgpack_encode(out, json_array_get(value, i));
        return;
    }
    case JSON_OBJECT: {
        const char *text = sr_msgpack_wrapped_text(value);
        if (text && json_object_get(value, SR_JSON_BINARY_KEY) && put_binary(out, text))
            return;
        if (text && json_object_get(value, SR_JSON_TIMESTAMP_KEY) && put_timestamp(out, text))
            return;
        put_length(out, json_object_size(value), 0x80, 15, 0, 0xde);
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)value, key, v) {
            put_string(out, key, strlen(key));
            sr_msgpack_encode(out, v);
        }
        return;
    }
    }
}

const char *sr_msgpack_wrapped_text(const json_t *value)
{
    if (!json_is_object(value) || json_object_size(value) != 1)
        return NULL;
    json_t *s = json_object_get(value, SR_JSON_BINARY_KEY);
    if (!s)
        s = json_object_get(value, SR_JSON_TIMESTAMP_KEY);
    return json_string_value(s);
}

/* ---------------------------------------------------------------------------------------------
 * Framing
 */

size_t sr_msgpack_frame_next(const char *buf, size_t len, size_t *prefix_len, size_t *payload_len)
{
    uint64_t n = 0;
    for (size_t i = 0; i < 5; i++) {
        if (i == len)
            return 0;
        unsigned char b = (unsigned char)buf[i];
        n |= (uint64_t)(b & 0x7f) << (7 * i);
        if (b & 0x80)
            continue;
        if (n > INT32_MAX)
            break;
        *prefix_len = i + 1;
        *payload_len = (size_t)n;
        return len - (i + 1) < n ? 0 : i + 1 + (size_t)n;
    }
    *prefix_len = len;
    *payload_len = SIZE_MAX;
    return len;
}

void sr_msgpack_frame_prefix(sr_buf *out, size_t payload_len)
{
    do {
        unsigned char b = payload_len & 0x7f;
        payload_len >>= 7;
        sr_buf_appendc(out, (char)(payload_len ? b | 0x80 : b));
    } while (payload_len);
}

/* ---------------------------------------------------------------------------------------------
 * Dates: proleptic Gregorian calendar, UTC, without the C library's time_t range or locale.
 */

static long long days_from_civil(long long y, int m, int d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(long long z, long long *y, int *m, int *d)
{
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Reads exactly @p n digits. */
static int digits(const char **s, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if ((*s)[i] < '0' || (*s)[i] > '9')
            return 0;
        x = x * 10 + ((*s)[i] - '0');
    }
    *s += n;
    *v = x;
    return 1;
}

static int expect(const char **s, char c)
{
    if (**s != c)
        return 0;
    (*s)++;
    return 1;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return days[m - 1] + (m == 2 && leap);
}

int sr_msgpack_parse_iso8601(const char *text, long long *seconds, long *nanoseconds)
{
    const char *s = text;
    int y, mo, d, h, mi, se, oh = 0, om = 0, sign = 0;
    long ns = 0;
    if (!digits(&s, 4, &y) || !expect(&s, '-') || !digits(&s, 2, &mo) || !expect(&s, '-') ||
        !digits(&s, 2, &d) || !expect(&s, 'T') || !digits(&s, 2, &h) || !expect(&s, ':') ||
        !digits(&s, 2, &mi) || !expect(&s, ':') || !digits(&s, 2, &se))
        return -1;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        se > 59)
        return -1;
    if (*s == '.') {
        int n = 0;
        for (s++; *s >= '0' && *s <= '9'; s++, n++)
            if (n < 9)
                ns = ns * 10 + (*s - '0');
        if (n == 0)
            return -1;
        for (; n < 9; n++)
            ns *= 10;
    }
    if (*s == 'Z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        sign = *s++ == '-' ? -1 : 1;
        if (!digits(&s, 2, &oh) || !expect(&s, ':') || !digits(&s, 2, &om) || oh > 23 || om > 59)
            return -1;
    } else {
        return -1;
    }
    if (*s)
        return -1;
    *seconds = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se -
               sign * (oh * 3600 + om * 60);
    *nanoseconds = ns;
    return 0;
}

int sr_msgpack_format_iso8601(long long seconds, long nanoseconds, char *out, size_t cap)
{
    /* Years 1..9999 span about +-3e11 seconds: checked first so nothing below overflows. */
    if (seconds < -62135596800LL || seconds > 253402300799LL || nanoseconds < 0 ||
        nanoseconds > 999999999L)
        return -1;
    long long days = seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
    long long rem = seconds - days * 86400, y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    int n = snprintf(out, cap, "%04lld-%02d-%02dT%02d:%02d:%02d", y, m, d, (int)(rem / 3600),
                     (int)(rem / 60 % 60), (int)(rem % 60));
    if (n < 0 || (size_t)n >= cap)
        return -1;
    if (nanoseconds) {
        char frac[16];
        snprintf(frac, sizeof frac, ".%09ld", nanoseconds);
        size_t f = strlen(frac);
        while (frac[f - 1] == '0')
            frac[--f] = '\0';
        if ((size_t)n + f + 2 > cap)
            return -1;
        memcpy(out + n, frac, f);
        n += (int)f;
    }
    if ((size_t)n + 2 > cap)
        return -1;
    out[n] = 'Z';
    out[n + 1] = '\0';
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Public constructors (signalr-fcgi.h)
 */

json_t *sr_json_binary(const void *data, size_t len)
{
    size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *text = sr_xmalloc(cap);
    sodium_bin2base64(text, cap, data ? data : (const void *)"", len,
                      sodium_base64_VARIANT_ORIGINAL);
    json_t *v = wrap(SR_JSON_BINARY_KEY, text);
    free(text);
    return v;
}

json_t *sr_json_timestamp(long long seconds, long nanoseconds)
{
    char text[64];
    if (sr_msgpack_format_iso8601(seconds, nanoseconds, text, sizeof text) != 0)
        return NULL;
    return wrap(SR_JSON_TIMESTAMP_KEY, text);
}
