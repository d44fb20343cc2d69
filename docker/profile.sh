# Login shells (ssh) find the user's own scripts (pip install --user: ~/.local/bin) and the
# image's venv first, as the container's own processes do.
export PATH="$HOME/.local/bin:/opt/venv/bin:$PATH"
export VIRTUAL_ENV=/opt/venv MPLBACKEND=Agg
