"""Reading attention: explanation methods scored against an intervention ground truth.

Index legend (the notation page's symbols):
    n layer (N), b batch (B), h head (H), q target position (Lq),
    k source position (Lk), d feature (D), t output scored (T).

On the date task the true alignment is known: changing the day of the source
changes the day digits of the output and nothing else. :func:`intervention_truth`
finds, for each character the model writes, the one source field whose
intervention changes it, and :func:`agreement` scores any (..., B, Lq, Lk) map of
attributions against it. The attributions: raw cross-attention, :func:`rollout`
of the encoder's self-attention composed with it (:func:`cross_rollout`),
:func:`gradient_x_input` and :func:`integrated_gradients` on the source
embeddings. :func:`adversarial_attention` searches for cross-attention weights
far from the model's (in :func:`js_divergence`) that leave its prediction almost
unchanged, after Jain and Wallace (2019); they searched the one attention layer of
recurrent models (classification, QA, NLI) for several adversaries at once, kept apart,
while here one adversary is optimized jointly over every layer and head (or the heads
named) at one teacher-forced step.

One module per concept, imports pointing down: the ground truth (``_truth``), the
attention-based attributions (``_rollout``), the gradient-based ones
(``_gradients``), swapping one step's cross-attention (``_step``) and the adversary
(``_adversary``).
"""

from xattn.explain._adversary import adversarial_attention, js_divergence
from xattn.explain._gradients import (
    gradient_x_input,
    integrated_gradients,
    path_gradients,
    source_embeddings,
    target_prob_fn,
    trapezoid,
)
from xattn.explain._rollout import cross_rollout, encoder_self_weights, rollout
from xattn.explain._step import (
    head_influence,
    step_attend,
    step_weights,
    with_step_weights,
)
from xattn.explain._truth import (
    FIELDS,
    agreement,
    intervene,
    intervention_truth,
    source_fields,
    target_fields,
)

__all__ = [
    "FIELDS",
    "source_fields",
    "target_fields",
    "intervene",
    "intervention_truth",
    "agreement",
    "rollout",
    "cross_rollout",
    "encoder_self_weights",
    "gradient_x_input",
    "integrated_gradients",
    "source_embeddings",
    "target_prob_fn",
    "path_gradients",
    "trapezoid",
    "js_divergence",
    "step_attend",
    "with_step_weights",
    "step_weights",
    "head_influence",
    "adversarial_attention",
]
