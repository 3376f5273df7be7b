/* Five-field cron schedules (minute hour day-of-month month day-of-week) as
 * Repository spec.sync.schedule uses them: "*", "*\/n", "a-b", "a-b/n" and
 * comma lists; day-of-week 0–7 with 0 and 7 Sunday; when both day fields are
 * restricted, either may match (classic cron). Times are UTC. */
#ifndef PORCH_CACHE_CRON_H
#define PORCH_CACHE_CRON_H

#include <stdint.h>
#include <time.h>

typedef struct cron_schedule {
    uint64_t minutes;  /* bit i: minute i */
    uint32_t hours;
    uint32_t days;     /* bits 1..31 */
    uint16_t months;   /* bits 1..12 */
    uint8_t weekdays;  /* bits 0..6 */
    int dom_any, dow_any;
} cron_schedule;

/* 0, or -1 with a 400 naming the bad field. */
int cron_parse(const char *text, cron_schedule *out);
/* The first whole minute strictly after `after` that matches; -1 when none can match (e.g. 31 February). */
time_t cron_next(const cron_schedule *s, time_t after);

#endif
