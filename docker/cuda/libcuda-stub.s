# A stand-in for the NVIDIA driver's libcuda.so.1, for GPU images on a machine without one.
# libmxnet.so (mxnet-cu112) links libcuda.so.1 and binds some of its functions when it is
# loaded, so without a driver `import mxnet` fails ("libcuda.so.1: cannot open shared object
# file", then "undefined symbol: cuDeviceGet" with an empty library). Every function here
# returns CUDA_ERROR_NO_DEVICE (100): the CUDA runtime then reports no device, and
# mxnet.context.num_gpus() is 0. The image lists its folder last for the dynamic loader
# (/etc/ld.so.conf.d/zz-ecsdl-cuda.conf), after the system's folders where the NVIDIA container
# toolkit mounts the real driver, so on a GPU host the real one is loaded, never this.
# Assembled in the builder stage: as --64 -o stub.o libcuda-stub.s && ld -shared -soname libcuda.so.1
        .text
        .globl ecsdl_cuda_stub_no_device
        .type ecsdl_cuda_stub_no_device, @function
ecsdl_cuda_stub_no_device:
        movl $100, %eax
        ret
        .size ecsdl_cuda_stub_no_device, .-ecsdl_cuda_stub_no_device

        .macro no_device name
        .globl \name
        .type \name, @function
        .set \name, ecsdl_cuda_stub_no_device
        .endm

# What the CUDA runtime calls first (it loads libcuda.so.1 itself) ...
        no_device cuInit
        no_device cuDriverGetVersion
        no_device cuGetProcAddress
        no_device cuDeviceGetCount
# ... and what libmxnet.so binds (nm -D --undefined-only libmxnet.so | grep ' cu[A-Z]').
        no_device cuDeviceGet
        no_device cuDevicePrimaryCtxRetain
        no_device cuGetErrorString
        no_device cuGraphKernelNodeGetParams
        no_device cuGraphNodeGetType
        no_device cuLaunchKernel
        no_device cuModuleGetFunction
        no_device cuModuleLoadData
        no_device cuModuleLoadDataEx
        no_device cuModuleUnload
        .section .note.GNU-stack,"",@progbits
