"""Upper bound of a stride-S segmentation head: a perfect coarse score map upsampled bilinearly.

Why: FCN-8s predicts at stride 8; on Fashion-MNIST scenes (28-pixel garments) this bounds the mean
IoU any FCN-8s can reach, at the native 64x64 scale and at 2x (128x128).

    python experiments/segmentation_fcn_oracle.py   # prints mean IoU per (scale, stride)
"""
import numpy as np, jax, jax.numpy as jnp, tensorflow_datasets as tfds
from cnnjax.data import sources
b=sources.get_builder("fashion_scenes", None)
d=tfds.as_numpy(b.as_dataset(split="test",batch_size=-1))
m=d["segmentation_mask"][...,0].astype(np.int32)
def miou(pred,gt,k=11):
  cm=np.bincount(gt.ravel()*k+pred.ravel(),minlength=k*k).reshape(k,k)
  tp=np.diag(cm); return np.mean(tp/(cm.sum(0)+cm.sum(1)-tp))
for scale in (1,2):
  g=np.repeat(np.repeat(m,scale,1),scale,2)
  oh=jax.nn.one_hot(g,11)
  n,h,w,_=oh.shape
  for stride in (8,4):
    coarse=oh.reshape(n,h//stride,stride,w//stride,stride,11).mean((2,4))
    up=jax.image.resize(coarse,(n,h,w,11),"bilinear")
    print("scale",scale,"stride",stride,"oracle mIoU",miou(np.asarray(up.argmax(-1)),g))
