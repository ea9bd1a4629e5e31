/*
 * One-off probe for bench/README.md (not part of `npm run bench`): what the
 * agent's digest of a large image would cost if hashed natively without
 * copying it into JavaScript buffers, i.e. in the existing N-API addon.
 *
 *   apt-get install libxxhash-dev
 *   cc -O2 -march=native -o /tmp/xxh-file bench/tools/xxh-file.c
 *   /tmp/xxh-file FILE     # prints XXH64 (as the agent's manifest) and XXH3-64, with timings
 *
 * Modes: pread into a 4 MiB buffer (what the agent does, minus JS), and mmap.
 */
#define XXH_INLINE_ALL
#include <xxhash.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s FILE\n", argv[0]);
		return 2;
	}
	int fd = open(argv[1], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(argv[1]);
		return 1;
	}
	size_t chunk = 4 << 20;
	char *buf = malloc(chunk);
	double mb = st.st_size / 1e6;

	for (int rep = 0; rep < 3; rep++) {
		double t = now_ms();
		XXH64_state_t *s = XXH64_createState();
		XXH64_reset(s, 0);
		for (off_t off = 0;;) {
			ssize_t n = pread(fd, buf, chunk, off);
			if (n <= 0)
				break;
			XXH64_update(s, buf, n);
			off += n;
		}
		unsigned long long h = XXH64_digest(s);
		XXH64_freeState(s);
		double pread_ms = now_ms() - t;

		t = now_ms();
		void *m = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
		if (m == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		unsigned long long h2 = XXH64(m, st.st_size, 0);
		double mmap_ms = now_ms() - t;
		t = now_ms();
		unsigned long long h3 = XXH3_64bits(m, st.st_size);
		double xxh3_ms = now_ms() - t;
		munmap(m, st.st_size);
		printf("xxh64 %016llx pread+XXH64 %.0f ms (%.0f MB/s) | mmap+XXH64 %016llx %.0f ms (%.0f MB/s) | XXH3-64 of the mapping %016llx %.0f ms (%.0f MB/s)\n",
		       h, pread_ms, mb / pread_ms * 1e3, h2, mmap_ms, mb / mmap_ms * 1e3, h3, xxh3_ms, mb / xxh3_ms * 1e3);
	}
	return 0;
}
