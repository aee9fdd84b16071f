"""Export the packaged model to OpenVINO IR, fp32 or NNCF static int8, once per index.

The exported graph is BERT → mean pooling → L2 norm, so it returns the same vectors as the
SentenceTransformer; an export is checked against torch fp32 (mean cosine) before it is cached.
Needs torch and the optional ``openvino`` extra; ``vectors.load_embedder`` calls it on first use.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .vectors import EXPORT_VERSION, ModelUnavailable, OpenVINOEmbedder, _openvino, model_path

log = logging.getLogger(__name__)

MIN_COSINE = {"openvino": 0.9999, "openvino-int8": 0.985}
CALIBRATION_SIZE = 600  # paragraphs fed to NNCF (in batches of CALIBRATION_BATCH)
CALIBRATION_BATCH = 8
CHECK_SIZE = 200  # paragraphs used for the cosine check against torch fp32
MIN_CALIBRATION = 40


def _calibration_sample(texts: Sequence[str], n: int) -> list[str]:
    """``n`` texts spread evenly over the length range (short wire items to long features)."""
    uniq = sorted(set(texts), key=lambda t: (len(t), t))
    if len(uniq) <= n:
        return uniq
    step = len(uniq) / n
    return [uniq[int(i * step)] for i in range(n)]


class _Pooled:
    """Factory for the torch module exported to OpenVINO: BERT → mean pooling → L2 norm."""

    @staticmethod
    def build(st_model: Any) -> Any:
        import torch

        bert = st_model[0].auto_model.eval()

        class Pooled(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.bert = bert

            def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001
                h = self.bert(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    token_type_ids=token_type_ids,
                ).last_hidden_state
                m = attention_mask.unsqueeze(-1).to(h.dtype)
                pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
                return torch.nn.functional.normalize(pooled, dim=-1)

        return Pooled()


def export_openvino(
    model_name: str, backend: str, dest: Path, calibration: Sequence[str]
) -> dict[str, Any]:
    """Convert the packaged model to OpenVINO IR in ``dest`` (int8: quantize with NNCF).

    ``calibration`` paragraphs drive the int8 ranges and the cosine check against torch fp32;
    the export is refused (ValueError) when the check fails, so a bad model never gets cached.
    """
    import torch
    from sentence_transformers import SentenceTransformer

    ov = _openvino()

    if backend not in ("openvino", "openvino-int8"):
        raise ValueError(f"not an OpenVINO backend: {backend!r}")
    texts = [t for t in dict.fromkeys(calibration) if t.strip()]
    if len(texts) < MIN_CALIBRATION:
        raise ModelUnavailable(
            f"the {backend} export needs at least {MIN_CALIBRATION} paragraphs to calibrate "
            f"and check on, got {len(texts)}; index more text or use embed_backend='torch'"
        )
    sample = _calibration_sample(texts, CALIBRATION_SIZE + CHECK_SIZE)
    check, calib = sample[::4][:CHECK_SIZE], [t for i, t in enumerate(sample) if i % 4]
    mdir = model_path(model_name)
    st = SentenceTransformer(str(mdir), device="cpu")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".tmp-", dir=dest.parent))
    try:
        dynamic = ov.PartialShape([-1, -1])
        example = {
            "input_ids": torch.tensor([[101, 7592, 102]]),
            "attention_mask": torch.ones(1, 3, dtype=torch.long),
            "token_type_ids": torch.zeros(1, 3, dtype=torch.long),
        }
        with torch.no_grad():
            model = ov.convert_model(
                _Pooled.build(st),
                example_input=example,
                input=[(name, dynamic, ov.Type.i64) for name in example],
            )
        if backend == "openvino-int8":
            import nncf

            ov.save_model(model, tmp / "fp32.xml", compress_to_fp16=False)
            probe = OpenVINOEmbedder(model_name, tmp / "fp32.xml", "openvino", CALIBRATION_BATCH)
            feeds = [feed for _, feed in probe._feeds(calib)]
            del probe
            model = nncf.quantize(
                model,
                nncf.Dataset(feeds),
                model_type=nncf.ModelType.TRANSFORMER,
                subset_size=len(feeds),
            )
            for f in ("fp32.xml", "fp32.bin"):
                (tmp / f).unlink()
        ov.save_model(model, tmp / "model.xml", compress_to_fp16=False)
        ours = OpenVINOEmbedder(model_name, tmp / "model.xml", backend).encode(check)
        ref = st.encode(check, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        cos = (ours * ref).sum(axis=1)
        info = {
            "model": model_name,
            "backend": backend,
            "export_version": EXPORT_VERSION,
            "openvino": ov.__version__,
            "calibration_paragraphs": len(calib) if backend == "openvino-int8" else 0,
            "check_paragraphs": len(check),
            "cosine_to_torch_fp32": {"mean": float(cos.mean()), "min": float(cos.min())},
        }
        if cos.mean() < MIN_COSINE[backend]:
            raise ValueError(
                f"{backend} export disagrees with torch fp32: mean cosine {cos.mean():.4f} "
                f"< {MIN_COSINE[backend]}"
            )
        (tmp / "export.json").write_text(json.dumps(info, indent=2))
        try:
            tmp.rename(dest)
        except OSError:  # another process finished the same export first: keep theirs
            if not (dest / "model.xml").exists():
                raise
        log.info("exported %s %s to %s (mean cosine %.4f)", model_name, backend, dest, cos.mean())
        return info
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
