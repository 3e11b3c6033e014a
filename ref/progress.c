/*
 * progress.c - one-line progress display on stderr (see progress.h).
 */
#include "progress.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

double lsd_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *lsd_fmt_duration(char *buf, double s)
{
    long t;
    if (!(s >= 0)) s = 0;
    if (s > 1e7) s = 1e7;
    t = (long)(s + 0.5);
    if (t < 60)
        sprintf(buf, "%lds", t);
    else if (t < 3600)
        sprintf(buf, "%ldm%02lds", t / 60, t % 60);
    else
        sprintf(buf, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
    return buf;
}

void progress_start(lsd_progress *p, const char *label, long total, int quiet)
{
    memset(p, 0, sizeof *p);
    p->f = stderr;
    strncpy(p->label, label, sizeof p->label - 1);
    p->total = total > 0 ? total : 1;
    p->every = p->total / 10 > 0 ? p->total / 10 : 1;
    p->tty = isatty(fileno(stderr));
    p->quiet = quiet;
    p->t0 = lsd_now();
    p->last = 0;
}

/* Draws the line: in place on a terminal, else as a new line. */
static void draw(lsd_progress *p, const char *line, int final)
{
    int n = (int)strlen(line);
    if (p->tty) {
        fprintf(p->f, "\r%s", line);
        if (n < p->width) fprintf(p->f, "%*s", p->width - n, "");
        if (final) fputc('\n', p->f);
        p->width = n;
    } else {
        fprintf(p->f, "%s\n", line);
    }
    fflush(p->f);
}

void progress_update(lsd_progress *p, long done, const char *text)
{
    double t = lsd_now(), el = t - p->t0, rate, eta;
    long did = done - p->start;
    char line[512], a[16], b[16];
    if (p->quiet) return;
    if (p->tty ? (t - p->last < 0.25 && done < p->total) : (did % p->every && did != 1 && done != p->total))
        return;
    p->last = t;
    rate = el > 0 ? (double)did / el : 0;
    eta = rate > 0 ? (double)(p->total - done) / rate : 0;
    if (p->extra_s > 0)
        snprintf(line, sizeof line, "%s  it %ld/%ld %3d%%  %s  %.2f it/s  ETA %s (all %s)",
                 p->label, done, p->total, (int)(100.0 * done / p->total), text ? text : "",
                 rate, lsd_fmt_duration(a, eta), lsd_fmt_duration(b, eta + p->extra_s));
    else
        snprintf(line, sizeof line, "%s  it %ld/%ld %3d%%  %s  %.2f it/s  ETA %s", p->label,
                 done, p->total, (int)(100.0 * done / p->total), text ? text : "", rate,
                 lsd_fmt_duration(a, eta));
    draw(p, line, 0);
}

void progress_break(lsd_progress *p)
{
    if (p->tty && p->width > 0) {
        fputc('\n', p->f);
        fflush(p->f);
    }
    p->width = 0;
}

double progress_end(lsd_progress *p, const char *text)
{
    double el = lsd_now() - p->t0;
    char line[512], a[16];
    if (!p->quiet) {
        snprintf(line, sizeof line, "%s  done %ld it in %s  %s", p->label, p->total,
                 lsd_fmt_duration(a, el), text ? text : "");
        draw(p, line, 1);
    }
    return el;
}
