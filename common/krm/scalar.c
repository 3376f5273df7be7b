/* Scalar analysis for the emitter: which styles can carry a value unchanged
 * (go-yaml v3's rules, so our quoting matches kpt's), and the YAML 1.2 core
 * resolution kpt uses to decide whether a string needs quotes. */
#include "krm_internal.h"

#include <string.h>

static bool is_break_at(const unsigned char *v, size_t i, size_t len)
{
    if (v[i] == '\r' || v[i] == '\n')
        return true;
    if (v[i] == 0xC2 && i + 1 < len && v[i + 1] == 0x85)
        return true;
    return v[i] == 0xE2 && i + 2 < len && v[i + 1] == 0x80 &&
           (v[i + 2] == 0xA8 || v[i + 2] == 0xA9);
}

static size_t utf8_width(unsigned char c)
{
    return (c & 0x80) == 0      ? 1
           : (c & 0xE0) == 0xC0 ? 2
           : (c & 0xF0) == 0xE0 ? 3
           : (c & 0xF8) == 0xF0 ? 4
                                : 1;
}

static bool is_printable_at(const unsigned char *b, size_t i, size_t len)
{
    unsigned char c = b[i], c1 = i + 1 < len ? b[i + 1] : 0, c2 = i + 2 < len ? b[i + 2] : 0;
    return c == 0x0A || (c >= 0x20 && c <= 0x7E) || (c == 0xC2 && c1 >= 0xA0) ||
           (c > 0xC2 && c < 0xED) || (c == 0xED && c1 < 0xA0) || c == 0xEE ||
           (c == 0xEF && !(c1 == 0xBB && c2 == 0xBF) &&
            !(c1 == 0xBF && (c2 == 0xBE || c2 == 0xBF)));
}

void krm_scalar_analyze(const char *sv, size_t len, krm_scalar_info *o)
{
    const unsigned char *v = (const unsigned char *)sv;
    memset(o, 0, sizeof *o);
    if (len == 0) {
        o->block_plain = o->single_ok = true;
        return;
    }
    bool block_ind = false, flow_ind = false, line_breaks = false, special = false, tabs = false;
    bool lead_space = false, lead_break = false, trail_space = false, trail_break = false;
    bool break_space = false, space_break = false, prev_space = false, prev_break = false;
    bool preceded_ws = true;
    if (len >= 3 && ((v[0] == '-' && v[1] == '-' && v[2] == '-') ||
                     (v[0] == '.' && v[1] == '.' && v[2] == '.')))
        block_ind = flow_ind = true;
    for (size_t i = 0, w; i < len; i += w) {
        w = utf8_width(v[i]);
        bool followed_ws =
            i + w >= len || v[i + w] == ' ' || v[i + w] == '\t' || is_break_at(v, i + w, len);
        unsigned char c = v[i];
        if (i == 0) {
            switch (c) {
            case '#':
            case ',':
            case '[':
            case ']':
            case '{':
            case '}':
            case '&':
            case '*':
            case '!':
            case '|':
            case '>':
            case '\'':
            case '"':
            case '%':
            case '@':
            case '`':
                flow_ind = block_ind = true;
                break;
            case '?':
            case ':':
                flow_ind = true;
                if (followed_ws)
                    block_ind = true;
                break;
            case '-':
                if (followed_ws)
                    flow_ind = block_ind = true;
                break;
            }
        } else {
            switch (c) {
            case ',':
            case '?':
            case '[':
            case ']':
            case '{':
            case '}':
                flow_ind = true;
                break;
            case ':':
                flow_ind = true;
                if (followed_ws)
                    block_ind = true;
                break;
            case '#':
                if (preceded_ws)
                    flow_ind = block_ind = true;
                break;
            }
        }
        if (c == '\t')
            tabs = true;
        else if (!is_printable_at(v, i, len))
            special = true;
        if (c == ' ') {
            if (i == 0)
                lead_space = true;
            if (i + w == len)
                trail_space = true;
            if (prev_break)
                break_space = true;
            prev_space = true;
            prev_break = false;
        } else if (is_break_at(v, i, len)) {
            line_breaks = true;
            if (i == 0)
                lead_break = true;
            if (i + w == len)
                trail_break = true;
            if (prev_space)
                space_break = true;
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = prev_break = false;
        }
        preceded_ws = c == ' ' || c == '\t' || is_break_at(v, i, len);
    }
    o->multiline = line_breaks;
    o->flow_plain = o->block_plain = o->single_ok = o->block_ok = true;
    if (lead_space || lead_break || trail_space || trail_break)
        o->flow_plain = o->block_plain = false;
    if (trail_space)
        o->block_ok = false;
    if (break_space)
        o->flow_plain = o->block_plain = o->single_ok = false;
    if (space_break || tabs || special)
        o->flow_plain = o->block_plain = o->single_ok = false;
    if (space_break || special)
        o->block_ok = false;
    if (line_breaks)
        o->flow_plain = o->block_plain = false;
    if (flow_ind)
        o->flow_plain = false;
    if (block_ind)
        o->block_plain = false;
}

static bool eq_any(const char *v, size_t len, const char *const *set)
{
    for (; *set; set++)
        if (strlen(*set) == len && !memcmp(*set, v, len))
            return true;
    return false;
}

static const char *const k_null[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const k_bool[] = {"true", "True", "TRUE", "false", "False", "FALSE", NULL};
static const char *const k_float[] = {".nan",  ".NaN",  ".NAN",  ".inf",  ".Inf",  ".INF", "+.inf",
                                      "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", NULL};

static bool digits(const char *p, const char *e, int base)
{
    if (p >= e)
        return false;
    for (; p < e; p++) {
        char c = *p;
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : 99;
        if (d >= base)
            return false;
    }
    return true;
}

/* Go's strconv.ParseInt(s, 0, 64) acceptance, without the range check. */
static bool is_int(const char *v, size_t len)
{
    char buf[128];
    size_t n = 0;
    for (size_t i = 0; i < len && n < sizeof buf - 1; i++)
        if (v[i] != '_')
            buf[n++] = v[i];
    if (n >= sizeof buf - 1)
        return false;
    const char *p = buf, *e = buf + n;
    if (p < e && (*p == '+' || *p == '-'))
        p++;
    if (e - p >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        return digits(p + 2, e, 16);
    if (e - p >= 2 && p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
        return digits(p + 2, e, 8);
    if (e - p >= 2 && p[0] == '0' && (p[1] == 'b' || p[1] == 'B'))
        return digits(p + 2, e, 2);
    if (e - p >= 2 && p[0] == '0')
        return digits(p + 1, e, 8);
    return digits(p, e, 10);
}

/* ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ after removing '_'. */
static bool is_float(const char *v, size_t len)
{
    size_t i = 0;
    if (i < len && (v[i] == '+' || v[i] == '-'))
        i++;
    size_t d0 = i;
    while (i < len && (v[i] >= '0' && v[i] <= '9'))
        i++;
    bool intpart = i > d0;
    if (i < len && v[i] == '.') {
        i++;
        size_t f0 = i;
        while (i < len && v[i] >= '0' && v[i] <= '9')
            i++;
        if (!intpart && i == f0)
            return false;
    } else if (!intpart) {
        return false;
    }
    if (i < len && (v[i] == 'e' || v[i] == 'E')) {
        i++;
        if (i < len && (v[i] == '+' || v[i] == '-'))
            i++;
        size_t e0 = i;
        while (i < len && v[i] >= '0' && v[i] <= '9')
            i++;
        if (i == e0)
            return false;
    }
    return i == len;
}

static bool is_timestamp(const char *v, size_t len)
{
    /* YYYY-M-D with an optional time part, as go-yaml's parseTimestamp accepts. */
    size_t i = 0;
    for (; i < 4; i++)
        if (i >= len || v[i] < '0' || v[i] > '9')
            return false;
    if (i >= len || v[i] != '-')
        return false;
    i++;
    size_t m0 = i;
    while (i < len && v[i] >= '0' && v[i] <= '9')
        i++;
    if (i == m0 || i - m0 > 2 || i >= len || v[i] != '-')
        return false;
    i++;
    size_t d0 = i;
    while (i < len && v[i] >= '0' && v[i] <= '9')
        i++;
    if (i == d0 || i - d0 > 2)
        return false;
    if (i == len)
        return true;
    return v[i] == 'T' || v[i] == 't' || v[i] == ' ';
}

bool krm_scalar_resolves_non_str(const char *v, size_t len)
{
    if (eq_any(v, len, k_null) || eq_any(v, len, k_bool) || eq_any(v, len, k_float))
        return true;
    if (len == 2 && v[0] == '<' && v[1] == '<')
        return true;
    char c = v[0];
    if (c == '.')
        return is_float(v, len);
    if (!((c >= '0' && c <= '9') || c == '+' || c == '-'))
        return false;
    if (is_timestamp(v, len))
        return true;
    if (is_int(v, len))
        return true;
    char buf[128];
    size_t n = 0;
    for (size_t i = 0; i < len && n < sizeof buf - 1; i++)
        if (v[i] != '_')
            buf[n++] = v[i];
    return n < sizeof buf - 1 && is_float(buf, n);
}

char krm_scalar_json_kind(const char *v, size_t len)
{
    if (eq_any(v, len, k_null))
        return 'n';
    if (eq_any(v, len, k_bool))
        return 'b';
    if (len && (v[0] == '-' || v[0] == '+' || (v[0] >= '0' && v[0] <= '9'))) {
        if (is_int(v, len))
            return 'i';
        if (is_float(v, len))
            return 'f';
    }
    return 's';
}
