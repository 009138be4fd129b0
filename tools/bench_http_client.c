/*
 * bench_http_client.c — the libcurl peer of tools/bench_http.sh: N
 * sequential GETs of URL on one easy handle (connection reuse, as C4:url's
 * multi handle does), then prints "<N> <seconds>".
 *   cc tools/bench_http_client.c $(pkg-config --cflags --libs libcurl)
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static size_t sink(char *p, size_t s, size_t n, void *ud) {
  (void)p;
  *(size_t *)ud += s * n;
  return s * n;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s URL N\n", argv[0]);
    return 2;
  }
  int n = atoi(argv[2]);
  size_t bytes = 0;
  CURL *e = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_URL, argv[1]);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &bytes);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < n; i++) {
    CURLcode rc = curl_easy_perform(e);
    if (rc != CURLE_OK) {
      fprintf(stderr, "GET %d failed: %s\n", i, curl_easy_strerror(rc));
      return 1;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("%d %.6f %zu\n", n, (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, bytes);
  curl_easy_cleanup(e);
  return 0;
}
