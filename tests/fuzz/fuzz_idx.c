/* fuzz_idx.c — libFuzzer target for the IDX reader: any bytes, gzipped or
 * not, must be read or refused with OP_ERR_INPUT, never crash. The reader
 * takes paths (it is gzopen-based), so each input goes through a file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "overparam/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/op_fuzz_idx_%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    op_idx idx;
    op_status s = op_idx_read(path, &idx);
    if (s == OP_OK) {
        long sum = 0; /* touch every byte the reader claims to hold */
        for (long i = 0; i < idx.count; i++)
            sum += idx.data[i];
        (void)sum;
        op_idx_free(&idx);
    } else if (s != OP_ERR_INPUT && s != OP_ERR_NOMEM) {
        abort();
    }
    return 0;
}
