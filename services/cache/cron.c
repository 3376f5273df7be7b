/* Cron schedule parsing and next-run computation (see cron.h). The next run
 * is found by stepping whole minutes, skipping non-matching days and hours,
 * so even a yearly schedule takes a few hundred steps. */
#include "cron.h"
#include "error/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_field(const char *field, int lo, int hi, uint64_t *bits, const char *name)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", field);
    *bits = 0;
    char *save = NULL;
    for (char *part = strtok_r(buf, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
        int a = lo, b = hi, step = 1;
        char *slash = strchr(part, '/');
        if (slash) {
            *slash = '\0';
            char *end;
            long v = strtol(slash + 1, &end, 10);
            if (*end || v < 1 || v > hi)
                return porch_error_set(400, "sync schedule: bad step \"%s\" in the %s field",
                                       slash + 1, name);
            step = (int)v;
        }
        if (strcmp(part, "*") != 0) {
            char *end;
            long v = strtol(part, &end, 10);
            if (end == part || v < lo || v > hi)
                return porch_error_set(400, "sync schedule: \"%s\" is out of range %d-%d in the "
                                            "%s field", part, lo, hi, name);
            a = b = (int)v;
            if (*end == '-') {
                char *end2;
                long w = strtol(end + 1, &end2, 10);
                if (*end2 || w < a || w > hi)
                    return porch_error_set(400, "sync schedule: bad range \"%s\" in the %s field",
                                           part, name);
                b = (int)w;
            } else if (*end) {
                return porch_error_set(400, "sync schedule: \"%s\" is not a number in the %s "
                                            "field", part, name);
            } else if (slash) {
                b = hi; /* "5/15" means from 5 every 15 */
            }
        }
        for (int i = a; i <= b; i += step)
            *bits |= 1ull << i;
    }
    if (!*bits)
        return porch_error_set(400, "sync schedule: empty %s field", name);
    return 0;
}

int cron_parse(const char *text, cron_schedule *out)
{
    char fields[5][128];
    int n = text ? sscanf(text, "%127s %127s %127s %127s %127s", fields[0], fields[1], fields[2],
                          fields[3], fields[4])
                 : 0;
    char extra[8];
    if (n != 5 || sscanf(text, "%*s %*s %*s %*s %*s %7s", extra) == 1)
        return porch_error_set(400, "sync schedule \"%s\" must have five fields: minute hour "
                                    "day-of-month month day-of-week", text ? text : "");
    uint64_t bits[5];
    static const int lo[5] = {0, 0, 1, 1, 0}, hi[5] = {59, 23, 31, 12, 7};
    static const char *names[5] = {"minute", "hour", "day-of-month", "month", "day-of-week"};
    for (int i = 0; i < 5; i++)
        if (parse_field(fields[i], lo[i], hi[i], &bits[i], names[i]) < 0)
            return -1;
    memset(out, 0, sizeof *out);
    out->minutes = bits[0];
    out->hours = (uint32_t)bits[1];
    out->days = (uint32_t)bits[2];
    out->months = (uint16_t)bits[3];
    out->weekdays = (uint8_t)((bits[4] | (bits[4] >> 7)) & 0x7f); /* 7 is Sunday too */
    out->dom_any = strcmp(fields[2], "*") == 0;
    out->dow_any = strcmp(fields[4], "*") == 0;
    return 0;
}

static int day_matches(const cron_schedule *s, const struct tm *tm)
{
    int dom = (s->days >> tm->tm_mday) & 1, dow = (s->weekdays >> tm->tm_wday) & 1;
    if (s->dom_any || s->dow_any)
        return dom && dow;
    return dom || dow;
}

time_t cron_next(const cron_schedule *s, time_t after)
{
    time_t t = after - after % 60 + 60;
    for (int guard = 0; guard < 600000; guard++) {
        struct tm tm;
        gmtime_r(&t, &tm);
        if (!((s->months >> (tm.tm_mon + 1)) & 1) || !day_matches(s, &tm)) {
            t += (time_t)(24 * 3600 - tm.tm_hour * 3600 - tm.tm_min * 60); /* next midnight */
            continue;
        }
        if (!((s->hours >> tm.tm_hour) & 1)) {
            t += (time_t)(3600 - tm.tm_min * 60);
            continue;
        }
        if ((s->minutes >> tm.tm_min) & 1)
            return t;
        t += 60;
    }
    return -1;
}
