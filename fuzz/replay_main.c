/*
 * Replay driver: the same LLVMFuzzerTestOneInput as the libFuzzer build, fed
 * every regular file of the directories (or files) named on the command
 * line, once each, in name order. It is what `make test` runs (gcc +
 * ASan/UBSan, no libFuzzer): a seed or a past crash that misbehaves again
 * shows up as a sanitizer report, an abort from the target's own checks, or
 * this program's non-zero exit.
 *
 *     fuzz_replay_<target> fuzz/corpus/<target> fuzz/regressions/<target>
 *
 * Files whose name starts with "README" or "." are documentation, not inputs.
 * A directory that does not exist is an error (a typo must not pass as
 * "nothing to replay"); an empty one is fine.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#define REPLAY_MAX_INPUT (16u * 1024u * 1024u)

static int run_file(const char *path)
{
    struct stat st;
    uint8_t *buf;
    size_t n;
    FILE *f;

    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > REPLAY_MAX_INPUT) {
        fprintf(stderr, "replay: %s: %lld bytes is over the %u-byte replay limit\n", path,
                (long long)st.st_size, REPLAY_MAX_INPUT);
        return -1;
    }
    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    /* An exact-size block (one byte for an empty file, which the target
     * sees as size 0), so ASan reports any read past the input. */
    buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
    if (buf == NULL) {
        fclose(f);
        fprintf(stderr, "replay: %s: out of memory\n", path);
        return -1;
    }
    n = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    if (n != (size_t)st.st_size) {
        free(buf);
        fprintf(stderr, "replay: %s: short read (%zu of %lld bytes)\n", path, n,
                (long long)st.st_size);
        return -1;
    }
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_doc(const char *name)
{
    return name[0] == '.' || strncmp(name, "README", 6) == 0;
}

/* Returns the number of inputs run, or -1. */
static long run_dir(const char *dir)
{
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0, i;
    long ran = 0;
    DIR *d;

    d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (is_doc(e->d_name))
            continue;
        if (n == cap) {
            char **grown = realloc(names, (cap ? cap * 2 : 64) * sizeof *names);

            if (grown == NULL)
                break;
            names = grown;
            cap = cap ? cap * 2 : 64;
        }
        names[n] = strdup(e->d_name);
        if (names[n] != NULL)
            n++;
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof *names, cmp_names);
    for (i = 0; i < n; i++) {
        size_t len = strlen(dir) + strlen(names[i]) + 2;
        char *path = malloc(len);
        struct stat st;

        if (path == NULL) {
            ran = -1;
            break;
        }
        snprintf(path, len, "%s/%s", dir, names[i]);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(path) != 0)
                ran = -1;
            else if (ran >= 0)
                ran++;
        }
        free(path);
    }
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return ran;
}

int main(int argc, char **argv)
{
    long total = 0;
    int i, failed = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s <corpus dir or file>...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize != NULL)
        LLVMFuzzerInitialize(&argc, &argv);
    for (i = 1; i < argc; i++) {
        struct stat st;
        long ran;

        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            failed = 1;
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            ran = run_dir(argv[i]);
        } else {
            ran = run_file(argv[i]) == 0 ? 1 : -1;
        }
        if (ran < 0) {
            failed = 1;
            continue;
        }
        printf("replay: %s: %ld inputs\n", argv[i], ran);
        total += ran;
    }
    printf("replay: %ld inputs in total%s\n", total, failed ? ", with errors" : "");
    return failed ? 1 : 0;
}
