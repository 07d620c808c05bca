/*
 * standalone.c — replays fuzz inputs through LLVMFuzzerTestOneInput without libFuzzer.
 *
 * DESIGN. `make check` builds every fuzz target with the ordinary compiler and links it with
 * this main, so the committed corpora (and every crasher added to them) run as regression tests
 * under gcc, ASan/UBSan or valgrind, the way jansson's standalone fuzz engine does. Each argument
 * is a file or a directory (whose regular files are replayed in name order, not recursively) and
 * yields one TAP line. A crash in the target is the failure signal; an unreadable argument is a
 * "not ok". Each input gets a buffer of exactly its size so out-of-bounds reads are caught as they
 * are under libFuzzer. Without arguments it replays SR_CORPUS_DIR when the build defines it
 * (Makefile.am does, per target), so the automake test needs no command line. Generic: it knows
 * nothing about any target.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target, as in libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/*
 * Reads @p f whole into a buffer of exactly its size, so that a read past the input lands outside
 * the allocation as it does under libFuzzer. Returns NULL on failure.
 */
static uint8_t *read_all(FILE *f, size_t *size)
{
    uint8_t *data = NULL;
    size_t len = 0;
    size_t cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *grown = realloc(data, cap);
            if (!grown) {
                free(data);
                return NULL;
            }
            data = grown;
        }
        size_t n = fread(data + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    uint8_t *exact = ferror(f) ? NULL : malloc(len ? len : 1);
    if (exact && len)
        memcpy(exact, data, len);
    free(data);
    *size = len;
    return exact;
}

/* Replays one file; returns 0, or -1 (with a diagnostic) when it cannot be read. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("# %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t size;
    uint8_t *data = read_all(f, &size);
    fclose(f);
    if (!data) {
        printf("# %s: cannot read\n", path);
        return -1;
    }
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays the regular files in @p dir; returns how many, or -1 when one could not be read. */
static long replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        printf("# %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0;
    size_t cap = 0;
    long result = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            size_t grown_cap = cap ? cap * 2 : 64;
            char **grown = realloc(names, grown_cap * sizeof *names);
            if (!grown) {
                printf("# %s: out of memory\n", dir);
                result = -1;
                goto out;
            }
            names = grown;
            cap = grown_cap;
        }
        size_t need = strlen(dir) + strlen(e->d_name) + 2;
        char *path = malloc(need);
        if (!path) {
            printf("# %s: out of memory\n", dir);
            result = -1;
            goto out;
        }
        snprintf(path, need, "%s/%s", dir, e->d_name);
        names[n++] = path;
    }
    if (n > 1)
        qsort(names, n, sizeof *names, compare_names);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(names[i], &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (replay_file(names[i]) != 0)
            result = -1;
        else if (result >= 0)
            result++;
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return result;
}

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);

    char **paths = argv + 1;
    int npaths = argc - 1;
#ifdef SR_CORPUS_DIR
    static char default_dir[] = SR_CORPUS_DIR;
    static char *default_paths[] = {default_dir};
    if (npaths == 0) {
        paths = default_paths;
        npaths = 1;
    }
#endif

    int failed = 0;
    int test = 0;
    for (int i = 0; i < npaths; i++) {
        const char *path = paths[i];
        struct stat st;
        long count;
        if (stat(path, &st) != 0) {
            printf("# %s: %s\n", path, strerror(errno));
            count = -1;
        } else if (S_ISDIR(st.st_mode)) {
            count = replay_dir(path);
        } else {
            count = replay_file(path) == 0 ? 1 : -1;
        }
        if (count < 0) {
            failed = 1;
            printf("not ok %d - replaying %s\n", ++test, path);
        } else {
            printf("ok %d - replayed %ld inputs from %s\n", ++test, count, path);
        }
        fflush(stdout);
    }
    if (test == 0)
        printf("1..0 # SKIP no corpus given\n");
    else
        printf("1..%d\n", test);
    return failed;
}
