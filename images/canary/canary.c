// SPDX-License-Identifier: GPL-2.0
/*
 * canary — the positive and negative controls for hotunplug-ci.
 *
 * One platform driver, compiled twice (see Kbuild):
 *   canary_buggy.ko (CANARY_BUGGY defined): driver state comes from devm_kzalloc() in probe,
 *     so unbinding the device frees it while a process still holds /dev/canary-buggy open;
 *     the next read()/ioctl()/poll() on that fd is a use-after-free that KASAN reports, once per
 *     call, as "slab-use-after-free in canary_read" (or canary_ioctl / canary_poll).
 *   canary_fixed.ko: state is kzalloc()ed and reference-counted (one reference for the bound
 *     device, one per open file); unbind marks it gone under the lock, so every later call
 *     returns -ENODEV and the last close frees it.
 *
 * Each module registers its own platform device ("canary-buggy.0" / "canary-fixed.0") and,
 * when bound, a misc char device (/dev/canary-buggy / /dev/canary-fixed).
 */
#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/ioctl.h>
#include <linux/kernel.h>
#include <linux/kref.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/platform_device.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/version.h>

#ifdef CANARY_BUGGY
#define CANARY_NAME "canary-buggy"
#else
#define CANARY_NAME "canary-fixed"
#endif

/* Returns the state's binding number; like read(), one load from the state. */
#define CANARY_IOC_GET_BINDING _IOR('C', 1, __u64)

struct canary {
	struct miscdevice misc;
	/*
	 * Which bind this state belongs to (1 for the first probe, 2 after a rebind…). Every file
	 * operation loads it exactly once: a stale state pointer then gives exactly one KASAN report
	 * per call, where copying a buffer would report every byte under kasan_multi_shot.
	 */
	u64 binding;
#ifndef CANARY_BUGGY
	struct kref kref;
	struct mutex lock; /* orders calls against unbind's "gone" */
	bool gone;
#endif
};

static atomic64_t canary_bindings = ATOMIC64_INIT(0);
static struct platform_device *canary_pdev;

#ifdef CANARY_BUGGY
/* No lifetime tracking at all: the pattern KASAN should catch. */
static int canary_enter(struct canary *c)
{
	return 0;
}

static void canary_leave(struct canary *c)
{
}

static void canary_get(struct canary *c)
{
}

static void canary_put(struct canary *c)
{
}
#else
static int canary_enter(struct canary *c)
{
	mutex_lock(&c->lock);
	if (c->gone) {
		mutex_unlock(&c->lock);
		return -ENODEV;
	}
	return 0;
}

static void canary_leave(struct canary *c)
{
	mutex_unlock(&c->lock);
}

static void canary_free(struct kref *kref)
{
	kfree(container_of(kref, struct canary, kref));
}

static void canary_get(struct canary *c)
{
	kref_get(&c->kref);
}

static void canary_put(struct canary *c)
{
	kref_put(&c->kref, canary_free);
}
#endif

static int canary_open(struct inode *inode, struct file *file)
{
	/* misc_open() stored our miscdevice here and holds misc_mtx, which unbind's
	 * misc_deregister() also takes, so the state is alive while we take our reference. */
	struct canary *c = container_of(file->private_data, struct canary, misc);

	canary_get(c);
	file->private_data = c;
	return 0;
}

static int canary_release(struct inode *inode, struct file *file)
{
	canary_put(file->private_data);
	return 0;
}

static ssize_t canary_read(struct file *file, char __user *buf, size_t len, loff_t *ppos)
{
	struct canary *c = file->private_data;
	char out[64];
	u64 binding;
	int n, err;

	err = canary_enter(c);
	if (err)
		return err;
	/* The dereference a stale pointer turns into a use-after-free, reported in canary_read. */
	binding = READ_ONCE(c->binding);
	canary_leave(c);
	n = scnprintf(out, sizeof(out), "%s binding=%llu\n", CANARY_NAME, binding);
	return simple_read_from_buffer(buf, len, ppos, out, n);
}

static long canary_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct canary *c = file->private_data;
	u64 binding;
	int err;

	if (cmd != CANARY_IOC_GET_BINDING)
		return -ENOTTY;
	err = canary_enter(c);
	if (err)
		return err;
	binding = READ_ONCE(c->binding);
	canary_leave(c);
	return put_user(binding, (u64 __user *)arg);
}

static __poll_t canary_poll(struct file *file, struct poll_table_struct *wait)
{
	struct canary *c = file->private_data;
	__poll_t mask;

	if (canary_enter(c))
		return EPOLLERR | EPOLLHUP;
	mask = READ_ONCE(c->binding) ? EPOLLIN | EPOLLRDNORM : 0;
	canary_leave(c);
	return mask;
}

static const struct file_operations canary_fops = {
	.owner = THIS_MODULE,
	.open = canary_open,
	.release = canary_release,
	.read = canary_read,
	.unlocked_ioctl = canary_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.poll = canary_poll,
	.llseek = noop_llseek,
};

static int canary_probe(struct platform_device *pdev)
{
	struct canary *c;
	int err;

#ifdef CANARY_BUGGY
	/* The bug: freed by devres when the device is unbound, whoever still holds an fd. */
	c = devm_kzalloc(&pdev->dev, sizeof(*c), GFP_KERNEL);
	if (!c)
		return -ENOMEM;
#else
	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		return -ENOMEM;
	kref_init(&c->kref); /* the bound device's reference, dropped in remove */
	mutex_init(&c->lock);
#endif
	c->binding = atomic64_inc_return(&canary_bindings);
	c->misc.minor = MISC_DYNAMIC_MINOR;
	c->misc.name = CANARY_NAME;
	c->misc.fops = &canary_fops;
	c->misc.parent = &pdev->dev;
	err = misc_register(&c->misc);
	if (err) {
		canary_put(c);
		return err;
	}
	platform_set_drvdata(pdev, c);
	dev_info(&pdev->dev, "/dev/%s ready (binding %llu)\n", CANARY_NAME, c->binding);
	return 0;
}

static void canary_remove(struct platform_device *pdev)
{
	struct canary *c = platform_get_drvdata(pdev);

	misc_deregister(&c->misc);
#ifndef CANARY_BUGGY
	mutex_lock(&c->lock);
	c->gone = true;
	mutex_unlock(&c->lock);
#endif
	canary_put(c);
	dev_info(&pdev->dev, "unbound\n");
}

/* platform_driver.remove returned int before 6.11 (void variant was .remove_new from 6.3). */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
static int canary_remove_int(struct platform_device *pdev)
{
	canary_remove(pdev);
	return 0;
}
#define CANARY_REMOVE .remove = canary_remove_int
#elif LINUX_VERSION_CODE < KERNEL_VERSION(6, 11, 0)
#define CANARY_REMOVE .remove_new = canary_remove
#else
#define CANARY_REMOVE .remove = canary_remove
#endif

static struct platform_driver canary_driver = {
	.driver = { .name = CANARY_NAME },
	.probe = canary_probe,
	CANARY_REMOVE,
};

static int __init canary_init(void)
{
	int err = platform_driver_register(&canary_driver);

	if (err)
		return err;
	canary_pdev = platform_device_register_simple(CANARY_NAME, 0, NULL, 0);
	if (IS_ERR(canary_pdev)) {
		platform_driver_unregister(&canary_driver);
		return PTR_ERR(canary_pdev);
	}
	return 0;
}

static void __exit canary_exit(void)
{
	platform_device_unregister(canary_pdev);
	platform_driver_unregister(&canary_driver);
}

module_init(canary_init);
module_exit(canary_exit);
MODULE_DESCRIPTION("hotunplug-ci control driver: " CANARY_NAME);
MODULE_LICENSE("GPL");
