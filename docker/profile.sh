# Login shells (ssh) find the image's venv first, as the container's own processes do.
export PATH="/opt/venv/bin:$PATH"
export VIRTUAL_ENV=/opt/venv MPLBACKEND=Agg
