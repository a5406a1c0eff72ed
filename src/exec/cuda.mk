# cuda.mk - vgpu-worker (hosts a backend per device) and cuda-sanity.
# Included by the top Makefile. Without nvcc both build without the CUDA backend.
$(BUILD)/vgpu-worker: $(BUILD)/src/cmd/vgpu-worker.o $(LIBVGPU)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)
$(BUILD)/cuda-sanity: $(BUILD)/src/cmd/cuda-sanity.o $(LIBVGPU)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)
